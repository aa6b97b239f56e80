#pragma once
// Shared pieces of the backward rule tables (grad/vjp_*.cc, grad/lrp_rules.cc).
#include <string>
#include <utility>
#include <vector>

#include "grad/reverse_pass.h"
#include "ir/op_registry.h"

namespace qvit {

using RuleTable = std::vector<std::pair<std::string, BackwardRule>>;
void register_vjp_linear(RuleTable& t);
void register_vjp_elementwise(RuleTable& t);
void register_vjp_nn(RuleTable& t);
void register_vjp_movement(RuleTable& t);

// Sums `g` (of a broadcast result's shape) down to shape `s` (numpy broadcasting rules).
Tensor reduce_to_shape(const Tensor& g, const Shape& s);
// `t` broadcast up to shape `s`, materialized.
Tensor broadcast_to_shape(const Tensor& t, const Shape& s);
// Elementwise a·b of two same-shape float tensors.
Tensor multiply(const Tensor& a, const Tensor& b);
// safe_div(a, b): 0 where b == 0, else a / (b + 1e-9·sign(b)) — the LRP stabilizer, elementwise.
Tensor safe_divide(const Tensor& a, const Tensor& b);
inline float safe_div(float a, float b) { return b == 0.0f ? 0.0f : a / (b + (b > 0 ? 1e-9f : -1e-9f)); }
double sum_of(const Tensor& t);

// Runs the float kernel of `node`'s op type on `inputs` (for rules that re-evaluate a forward,
// such as the α1β0 rule's positive and negative parts).
std::vector<Tensor> run_forward_op(const BackwardCall& c, const std::vector<const Tensor*>& inputs, size_t outputs = 1);
// OpCall of the node without inputs, for attribute helpers (window_geometry, normalize_axis).
OpCall attribute_call(const BackwardCall& c);

}  // namespace qvit
