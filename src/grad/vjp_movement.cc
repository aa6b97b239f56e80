// Gradients of data movement. Reshapes pass the cotangent through with the input's shape, a
// Transpose applies the inverse permutation. Every other movement op (Slice, Gather, Concat,
// Split, Pad, Expand, Tile) is handled by one rule that cannot drift from its forward kernel:
// the forward kernel itself is run on tensors of element indices, which tells, for each output
// element, which input element it copies (or none, for padding); the cotangent is then
// scatter-added along that map. The map is a function of static shapes only.
#include <algorithm>

#include "grad/rule_util.h"

namespace qvit {
namespace {

void vjp_reshape(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (c.wants[0]) in_cot[0] = c.cotangent(0).reshaped(c.in_shape[0]);
}

void vjp_Transpose(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (!c.wants[0]) return;
  const int r = static_cast<int>(c.in_shape[0].size());
  std::vector<int64_t> perm = c.node.attr_ints("perm");
  if (perm.empty())
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  Node t = c.node;
  t.attrs["perm"] = inverse;
  const Tensor dy = c.cotangent(0);
  OpCall call{t, {&dy}, c.opset};
  std::vector<Tensor> out(1);
  find_op("Transpose")(call, out);
  in_cot[0] = std::move(out[0]);
}

// Inputs that carry data (the rest are shapes, indices, pads, fill values).
bool is_data_input(const std::string& op, size_t i) { return op == "Concat" || i == 0; }

// Index-traced adjoint. Data input i is replaced by int64 codes offset_i + element + 1 (0 means
// "no source": the padding value).
void vjp_traced(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  std::vector<Tensor> codes(c.in.size());
  std::vector<const Tensor*> args(c.in.size(), nullptr);
  std::vector<int64_t> offset(c.in.size(), 0);
  int64_t next = 1;
  for (size_t i = 0; i < c.in.size(); ++i) {
    if (!is_data_input(c.node.op, i) || c.node.inputs[i] < 0) {
      args[i] = c.in[i];
      continue;
    }
    Tensor t(DType::Int64, c.in_shape[i], Tensor::Uninitialized{});
    offset[i] = next;
    int64_t* p = t.data<int64_t>();
    for (int64_t k = 0; k < t.numel(); ++k) p[k] = next + k;
    next += t.numel();
    codes[i] = std::move(t);
    args[i] = &codes[i];
  }
  Tensor zero_fill = Tensor::scalar<int64_t>(0);
  if (c.node.op == "Pad") {
    if (c.opset < 11 && c.node.attr_float("value", 0.f) != 0.f) c.fail("backward: Pad with a nonzero value before opset 11");
    if (args.size() > 2 && args[2]) args[2] = &zero_fill;
  }
  const std::vector<Tensor> traced = run_forward_op(c, args, c.out_shape.size());
  for (size_t i = 0; i < c.in.size(); ++i)
    if (c.wants[i]) in_cot[i] = Tensor(DType::Float32, c.in_shape[i]);
  // Code → (input, element): inputs' code ranges are consecutive.
  for (size_t o = 0; o < traced.size(); ++o) {
    if (o >= c.cot.size() || !c.cot[o]) continue;
    const int64_t* code = traced[o].data<int64_t>();
    const float* g = c.cot[o]->data<float>();
    for (int64_t e = 0; e < traced[o].numel(); ++e) {
      if (code[e] == 0 || g[e] == 0.f) continue;
      size_t i = c.in.size() - 1;
      while (i > 0 && !(codes[i].defined() && code[e] >= offset[i])) --i;
      if (c.wants[i] && codes[i].defined()) in_cot[i].data<float>()[code[e] - offset[i]] += g[e];
    }
  }
}

}  // namespace

void register_vjp_movement(RuleTable& t) {
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}) t.push_back({op, {vjp_reshape, false, false}});
  t.push_back({"Transpose", {vjp_Transpose, false, false}});
  for (const char* op : {"Slice", "Gather", "Concat", "Split", "Pad", "Expand", "Tile"})
    t.push_back({op, {vjp_traced, false, false}});
}

}  // namespace qvit
