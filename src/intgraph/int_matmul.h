#pragma once
// The IntGraph's linear ops (QMatMul, QConv) and what the executor prepares for them once: a
// constant B of int8 values packed for the int8 GEMM of the active kernel path (kernels/gemm_u8s8.h).
#include <memory>

#include <optional>

#include "intgraph/int_storage.h"
#include "ir/executor.h"
#include "ir/graph.h"
#include "ir/op_registry.h"

namespace qvit {

void op_QMatMul(const OpCall& c, std::vector<Tensor>& out);
void op_QConv(const OpCall& c, std::vector<Tensor>& out);

// What the integer runtime prepares once for a node of an IntGraph (OpCall::prepared).
struct IntNodePrep {
  std::optional<int32_t> output_offset;    // the output is stored as uint8 codes (int_storage.h)
  std::optional<int32_t> input_offset[2];  // QMatMul: inputs 0 / 1 arrive as uint8 codes
  std::shared_ptr<const void> weights;     // QMatMul/QConv: the constant B packed for the GEMM
};

// The Executor's prepare hook for IntGraphs: null when there is nothing to prepare. `plan` is
// the storage plan (empty: every value int32).
std::shared_ptr<const void> prepare_int_node(const Graph& g, const Node& node, const CodeStorage& plan);
// The hook itself, owning its plan.
Executor::PrepareFn int_node_preparer(CodeStorage plan = {});

// Stores the QMatMul/QConv weights of `g` whose values are int8 as Int8 tensors (a quarter of the
// memory; the kernels read either). A runtime step: an IntGraph as lowered, exported and checked
// holds int32 tensors only. True if any weight was narrowed.
bool narrow_linear_weights(Graph& g);

}  // namespace qvit
