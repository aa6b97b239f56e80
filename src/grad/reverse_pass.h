#pragma once
// Reverse-mode propagation over the float IR, the stage LRP importance (and later reconstruction-
// based calibration) builds on. One forward pass keeps the values the rules read; a reverse pass
// then walks the nodes backwards, hands every node the cotangents of its outputs and collects
// those of its inputs. A value read by several nodes gets the sum of what each reader sends back
// (the chain rule for gradients; Chefer et al.'s Clone rule for relevance).
//
// What flows back is decided by a rule table: vjp_rules() gives vector-Jacobian products
// (gradients), lrp_rules() relevance (grad/lrp_rules.h). Only float32 values that depend on a
// graph input carry cotangents; constants and shape tensors never do.
#include <string>
#include <vector>

#include "ir/graph.h"

namespace qvit {

// What a rule sees for one node.
struct BackwardCall {
  const Node& node;
  int64_t opset = 0;
  std::vector<const Tensor*> in;   // forward inputs: constants always, activations when the rule keeps them
  std::vector<const Tensor*> out;  // forward outputs, when the rule keeps them (else nullptr)
  std::vector<const Tensor*> cot;  // cotangent per output (nullptr: none reached it, i.e. zero)
  std::vector<char> wants;         // per input: the pass needs its cotangent
  std::vector<Shape> in_shape;     // per input (-1 inputs: empty), whether or not the tensor was kept
  std::vector<Shape> out_shape;    // per output

  const Tensor& input(size_t i) const;   // clear error if absent
  const Tensor& output(size_t i) const;  // clear error if absent
  // The output cotangent i, or a zero tensor of the output's shape (a copy: rules may modify it).
  Tensor cotangent(size_t i) const;
  // Is input i a constant of the graph (weights, biases, masks)?
  bool is_constant(size_t i) const { return i < constant.size() && constant[i]; }
  std::vector<char> constant;
  [[noreturn]] void fail(const std::string& what) const;
};

// Fills in_cot[i] for every input with wants[i] (an undefined Tensor means zero).
using BackwardFn = void (*)(const BackwardCall& call, std::vector<Tensor>& in_cot);

struct BackwardRule {
  BackwardFn fn = nullptr;
  bool needs_inputs = false;  // reads the forward activations it was given
  bool needs_outputs = false; // reads its forward outputs
};
// Op type → rule, or nullptr when the op has no rule in that table.
using RuleLookup = const BackwardRule* (*)(const std::string& op_type);

const BackwardRule* vjp_rule(const std::string& op_type);
const BackwardRule* lrp_rule(const std::string& op_type);
// Op types that have a gradient / relevance rule (for tests and error messages).
std::vector<std::string> vjp_ops();
std::vector<std::string> lrp_ops();

class ReversePass {
 public:
  // The tables the passes will use: their needs decide what a forward keeps. Fails naming the
  // first node on the differentiable path that a table has no rule for.
  ReversePass(const Graph& g, std::vector<RuleLookup> tables);

  // A forward run: the values the rules read (indexed by value id; others undefined) and every
  // value's shape.
  struct Tape {
    std::vector<Tensor> values;
    std::vector<Shape> shapes;
  };
  Tape forward(std::vector<Tensor> inputs) const;
  // Reverse pass with `rules` (one of the constructor's tables), from `seed`, the cotangent of
  // graph output `output`. Returns the cotangents of the values in `wanted` (same order; an
  // undefined Tensor when nothing reached one).
  std::vector<Tensor> backward(const Tape& tape, RuleLookup rules, int output, Tensor seed,
                               const std::vector<int>& wanted) const;

  const Graph& graph() const { return graph_; }
  // Does value v carry a cotangent (float32, computed from a graph input)?
  bool differentiable(int v) const { return differentiable_[static_cast<size_t>(v)] != 0; }

 private:
  const Graph& graph_;
  std::vector<char> differentiable_;  // per value
  std::vector<char> keep_;            // per value: kept by forward()
};

}  // namespace qvit
