// Layer-wise relevance propagation rules (Chefer et al., CVPR 2021, as LRP-QViT uses them):
//  - layers with a constant weight (Linear, Conv, MatMul by a constant): α1β0 — only the positive
//    contributions x_j·w_jk carry relevance: Z = f(x⁺; W⁺) + f(x⁻; W⁻) without bias, S = R / Z,
//    R_x = x⁺ ⊙ J_{W⁺}ᵀS + x⁻ ⊙ J_{W⁻}ᵀS (the J products are the gradient rules' own);
//  - two activations meeting (residual Add, QKᵀ and attn·V, Mul, Sub): each operand gets
//    x ⊙ ∂Z/∂x ⊙ R/Z, then both are rescaled so their totals split ΣR in proportion to |Σ| of
//    each (Chefer's renormalization: the total is kept);
//  - an activation meeting a constant (bias, position embedding, attention scale, LayerScale):
//    the relevance passes to the activation unchanged (constants absorb none);
//  - LayerNorm, Softmax, GELU, ReLU and the other pointwise functions pass relevance through
//    (Softmax thereby hands it to the attention scores); pooling takes x ⊙ ∂y/∂x ⊙ R/y;
//  - data movement routes relevance exactly like the gradient.
// Relevance is propagated for one image at a time, so "the total" is that image's.
#include <cmath>
#include <unordered_map>

#include "grad/rule_util.h"

namespace qvit {
namespace {

// Runs gradient rule `op` of this node with some inputs and the output cotangent replaced.
std::vector<Tensor> vjp_with(const BackwardCall& c, const std::vector<const Tensor*>& in, const Tensor& cot,
                             const std::vector<char>& wants) {
  BackwardCall call = c;
  call.in = in;
  call.cot = {&cot};
  call.wants = wants;
  std::vector<Tensor> r(in.size());
  vjp_rule(c.node.op)->fn(call, r);
  return r;
}

Tensor clamp_sign(const Tensor& t, bool positive) {
  Tensor r(DType::Float32, t.shape(), Tensor::Uninitialized{});
  const float* p = t.data<float>();
  float* q = r.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) q[i] = positive ? std::max(p[i], 0.f) : std::min(p[i], 0.f);
  return r;
}

int single_activation(const BackwardCall& c) {
  int found = -1, count = 0;
  for (size_t i = 0; i < c.in.size(); ++i)
    if (c.wants[i]) found = static_cast<int>(i), ++count;
  return count == 1 ? found : -1;
}

// α1β0 for a node whose input 0 (or, for MatMul, the one non-constant operand) is the activation
// and another input the constant weight. Bias inputs (#2) are dropped.
void lrp_weighted(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  const int xi = single_activation(c);
  if (xi < 0) c.fail("relevance: expected one activation input and a constant weight");
  const int wi = c.node.op == "MatMul" ? 1 - xi : 1;
  if (!c.is_constant(static_cast<size_t>(wi))) c.fail("relevance: the weight input is not a constant");
  const Tensor& x = c.input(static_cast<size_t>(xi));
  const Tensor& w = c.input(static_cast<size_t>(wi));
  const Tensor R = c.cotangent(0);
  const Tensor xp = clamp_sign(x, true), xn = clamp_sign(x, false);
  const Tensor wp = clamp_sign(w, true), wn = clamp_sign(w, false);
  auto args = [&](const Tensor& xv, const Tensor& wv) {
    std::vector<const Tensor*> a(c.in.size() > 2 && c.node.op != "MatMul" ? 2 : c.in.size(), nullptr);
    a[static_cast<size_t>(xi)] = &xv;
    a[static_cast<size_t>(wi)] = &wv;
    return a;
  };
  Tensor z = std::move(run_forward_op(c, args(xp, wp))[0]);
  const Tensor zn = std::move(run_forward_op(c, args(xn, wn))[0]);
  for (int64_t i = 0; i < z.numel(); ++i) z.data<float>()[i] += zn.data<float>()[i];
  const Tensor s = safe_divide(R, z);
  std::vector<char> wants(c.in.size(), 0);
  wants[static_cast<size_t>(xi)] = 1;
  std::vector<const Tensor*> full_p = c.in, full_n = c.in;
  full_p[static_cast<size_t>(wi)] = &wp;
  full_n[static_cast<size_t>(wi)] = &wn;
  const Tensor cp = std::move(vjp_with(c, full_p, s, wants)[static_cast<size_t>(xi)]);
  const Tensor cn = std::move(vjp_with(c, full_n, s, wants)[static_cast<size_t>(xi)]);
  Tensor rx(DType::Float32, x.shape(), Tensor::Uninitialized{});
  for (int64_t i = 0; i < x.numel(); ++i)
    rx.data<float>()[i] = xp.data<float>()[i] * cp.data<float>()[i] + xn.data<float>()[i] * cn.data<float>()[i];
  in_cot[static_cast<size_t>(xi)] = std::move(rx);
}

// Two activations: R_i = x_i ⊙ ∂Z/∂x_i ⊙ (R / Z), then Chefer's renormalization.
void lrp_pair(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  const Tensor R = c.cotangent(0);
  const Tensor s = safe_divide(R, c.output(0));
  std::vector<const Tensor*> in = c.in;
  const std::vector<Tensor> grads = vjp_with(c, in, s, c.wants);
  double sums[2] = {0, 0};
  for (size_t i = 0; i < 2; ++i) {
    if (!c.wants[i]) continue;
    in_cot[i] = multiply(c.input(i), broadcast_to_shape(grads[i], c.input(i).shape()));
    sums[i] = sum_of(in_cot[i]);
  }
  const double total = sum_of(R), mag = std::fabs(sums[0]) + std::fabs(sums[1]);
  for (size_t i = 0; i < 2; ++i) {
    if (!c.wants[i]) continue;
    const double share = mag == 0 ? 0 : std::fabs(sums[i]) / mag * total;
    const double scale = sums[i] == 0 ? 0 : share / sums[i];
    for (float& v : in_cot[i].values<float>()) v = static_cast<float>(v * scale);
  }
}

void lrp_pass(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (c.wants[0]) in_cot[0] = reduce_to_shape(c.cotangent(0), c.in_shape[0]);
}

// Arithmetic: with a constant operand the relevance passes; two activations split it.
void lrp_arith(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  const int xi = single_activation(c);
  if (xi < 0) return lrp_pair(c, in_cot);
  in_cot[static_cast<size_t>(xi)] = reduce_to_shape(c.cotangent(0), c.in_shape[static_cast<size_t>(xi)]);
}

void lrp_matmul(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (single_activation(c) >= 0 && (c.is_constant(0) || c.is_constant(1))) return lrp_weighted(c, in_cot);
  lrp_pair(c, in_cot);
}

// Pooling: R_x = x ⊙ ∂y/∂x ⊙ R / y.
void lrp_pool(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (!c.wants[0]) return;
  const Tensor s = safe_divide(c.cotangent(0), c.output(0));
  const std::vector<Tensor> g = vjp_with(c, c.in, s, c.wants);
  in_cot[0] = multiply(c.input(0), g[0]);
}

const std::unordered_map<std::string, BackwardRule>& lrp_table() {
  static const auto table = [] {
    std::unordered_map<std::string, BackwardRule> t;
    for (const char* op : {"Linear", "Conv"}) t[op] = {lrp_weighted, true, false};
    t["MatMul"] = {lrp_matmul, true, true};
    for (const char* op : {"Add", "Sub", "Mul", "Div"}) t[op] = {lrp_arith, true, true};
    for (const char* op : {"LayerNorm", "LayerNormalization", "Softmax", "Gelu", "Relu", "Sigmoid", "Tanh", "Erf",
                           "Identity", "Dropout", "Neg"})
      t[op] = {lrp_pass, false, false};
    for (const char* op : {"MaxPool", "GlobalAveragePool", "ReduceMean", "ReduceSum"}) t[op] = {lrp_pool, true, true};
    for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Gather", "Concat", "Split",
                           "Pad", "Expand", "Tile"})
      t[op] = *vjp_rule(op);
    return t;
  }();
  return table;
}

}  // namespace

const BackwardRule* lrp_rule(const std::string& op_type) {
  auto it = lrp_table().find(op_type);
  return it == lrp_table().end() ? nullptr : &it->second;
}

std::vector<std::string> lrp_ops() {
  std::vector<std::string> k;
  for (const auto& [name, rule] : lrp_table()) k.push_back(name);
  std::sort(k.begin(), k.end());
  return k;
}

}  // namespace qvit
