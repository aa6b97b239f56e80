#pragma once
// The IntGraph's linear ops (QMatMul, QConv) and what the executor prepares for them once: a
// constant B of int8 values packed for the int8 GEMM of the active kernel path (kernels/gemm_u8s8.h).
#include <memory>

#include "ir/graph.h"
#include "ir/op_registry.h"

namespace qvit {

void op_QMatMul(const OpCall& c, std::vector<Tensor>& out);
void op_QConv(const OpCall& c, std::vector<Tensor>& out);

// Prepared data for a node of an IntGraph (the Executor's prepare hook), or null.
std::shared_ptr<const void> prepare_int_node(const Graph& g, const Node& node);

// Stores the QMatMul/QConv weights of `g` whose values are int8 as Int8 tensors (a quarter of the
// memory; the kernels read either). A runtime step: an IntGraph as lowered, exported and checked
// holds int32 tensors only. True if any weight was narrowed.
bool narrow_linear_weights(Graph& g);

}  // namespace qvit
