#pragma once
// Float reference executor over the IR. It runs nodes in topological order, frees every
// intermediate after its last reader, and lets an observer see (and replace) each value as it is
// produced — calibration observes ranges there, fake-quant rewrites values there.
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "ir/graph.h"
#include "ir/matmul_fold.h"
#include "ir/op_registry.h"

namespace qvit {

class ValueObserver {
 public:
  virtual ~ValueObserver() = default;
  // Called for every node output right after the node ran; may modify `t` in place.
  virtual void on_value(const Graph& g, int value_id, Tensor& t) = 0;
};

class Executor {
 public:
  // `lookup` maps op types to kernels: the float op set by default; the integer runtime passes its
  // own (which falls back to the float set's data-movement ops).
  // `prepare`, when given, is asked once per node for data its kernel reads on every run
  // (OpCall::prepared): the integer runtime packs its int8 weights there.
  using PrepareFn = std::function<std::shared_ptr<const void>(const Graph& g, const Node& node)>;
  explicit Executor(const Graph& g, OpLookup lookup = find_op, const PrepareFn& prepare = nullptr);

  // Runs the graph on `inputs` (one per graph input, in order); returns the graph outputs.
  // `context` reaches every kernel as OpCall::context.
  std::vector<Tensor> run(std::vector<Tensor> inputs, ValueObserver* observer = nullptr, void* context = nullptr) const;
  // Same, but returns every value (constants included), indexed by value id. Used by the importer
  // to fold shape subgraphs and by tests and tools that inspect intermediates.
  std::vector<Tensor> run_all(std::vector<Tensor> inputs, ValueObserver* observer = nullptr) const;
  // Same, but keeps only the values marked in `keep` (indexed by value id) and the graph outputs;
  // the rest are freed after their last reader as in run(). Constants are not copied (the graph
  // has them). The reverse passes (grad/) keep just what their rules read.
  // `shapes`, when given, receives every value's shape as computed (graphs built in memory may not
  // declare them).
  std::vector<Tensor> run_keeping(std::vector<Tensor> inputs, const std::vector<char>& keep,
                                  std::vector<Shape>* shapes = nullptr) const;

  const Graph& graph() const { return graph_; }

 private:
  std::vector<Tensor> execute(std::vector<Tensor> inputs, ValueObserver* observer, bool keep_all, void* context,
                              const std::vector<char>* keep = nullptr, std::vector<Shape>* shapes = nullptr) const;

  // Which node reads and writes what, and the buffer reuse that follows from it. Two exist: the
  // graph as it is, and (observer-free inference with the packed GEMM) attention's data movement
  // folded into its MatMuls.
  struct Plan {
    std::vector<char> skip;                          // per node: not executed
    std::vector<std::vector<int>> inputs, outputs;   // per node
    std::vector<std::shared_ptr<const void>> prepared;
    std::vector<std::vector<int>> free_after;        // per node: values whose last reader it is
    // Per node: true for a pure reshape (Reshape/Flatten/Squeeze/Unsqueeze/Identity) whose input dies
    // at this node; the executor then moves the input's buffer instead of copying it.
    std::vector<char> reshape_in_place;
  };
  void finish_plan(Plan& p) const;

  const Graph& graph_;
  std::vector<OpFn> kernels_;  // per node
  Plan plain_;                 // prepared: weights packed once for Linear (qvit's own GEMM), or null
  std::optional<Plan> folded_;
};

// Checks user inputs against the graph's declared input shapes/types; clear error otherwise.
void check_inputs(const Graph& g, const std::vector<Tensor>& inputs);

}  // namespace qvit
