// Gradients of the elementwise ops: broadcast arithmetic (Add, Sub, Mul, Div) and the unary
// activations the ViT family uses (Relu, Gelu exact and tanh, Sigmoid, Tanh, Erf, Neg, Identity).
#include <cmath>

#include "grad/rule_util.h"
#include "ir/broadcast.h"

namespace qvit {
namespace {

enum class Arith { Add, Sub, Mul, Div };

// d(a op b): for each operand, dy times ∂(a op b)/∂operand, summed down to the operand's shape.
template <Arith K>
void vjp_arith(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  const Tensor dy = c.cotangent(0);
  const Shape& os = dy.shape();
  for (size_t side = 0; side < 2; ++side) {
    if (!c.wants[side]) continue;
    const Shape& self = c.in_shape[side];
    if (K == Arith::Add || (K == Arith::Sub && side == 0)) {
      in_cot[side] = reduce_to_shape(dy, self);
      continue;
    }
    if (K == Arith::Sub) {
      Tensor r = reduce_to_shape(dy, self);  // a copy: safe to negate
      for (float& v : r.values<float>()) v = -v;
      in_cot[side] = std::move(r);
      continue;
    }
    const Tensor& a = c.input(0);
    const Tensor& b = c.input(1);
    Tensor full(DType::Float32, os, Tensor::Uninitialized{});
    float* pf = full.data<float>();
    const float* pdy = dy.data<float>();
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    broadcast_rows<2>(os, {a.shape(), b.shape()}, [&](int64_t o, const std::array<int64_t, 2>& offs, int64_t len,
                                                      const std::array<int64_t, 2>& inner) {
      for (int64_t k = 0; k < len; ++k) {
        const float av = pa[offs[0] + k * inner[0]], bv = pb[offs[1] + k * inner[1]], g = pdy[o + k];
        if (K == Arith::Mul) pf[o + k] = g * (side == 0 ? bv : av);
        else pf[o + k] = side == 0 ? g / bv : -g * av / (bv * bv);
      }
    });
    in_cot[side] = reduce_to_shape(full, self);
  }
}

// Unary ops: dx = dy · f'(x, y).
template <class Deriv>
void unary(const BackwardCall& c, std::vector<Tensor>& in_cot, Deriv&& d) {
  if (!c.wants[0]) return;
  const Tensor dy = c.cotangent(0);
  const Tensor* x = c.in[0];
  const Tensor* y = c.out.empty() ? nullptr : c.out[0];
  Tensor dx(DType::Float32, dy.shape(), Tensor::Uninitialized{});
  const float* px = x ? x->data<float>() : nullptr;
  const float* py = y ? y->data<float>() : nullptr;
  const float* pg = dy.data<float>();
  float* pd = dx.data<float>();
  for (int64_t i = 0; i < dy.numel(); ++i) pd[i] = pg[i] * d(px ? px[i] : 0.f, py ? py[i] : 0.f);
  in_cot[0] = std::move(dx);
}

void vjp_Relu(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  unary(c, in_cot, [](float x, float) { return x > 0 ? 1.f : 0.f; });
}

void vjp_Gelu(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (c.node.attr_string("approximate", "none") == "tanh") {
    unary(c, in_cot, [](float xf, float) {
      const double x = xf, k = 0.7978845608028654, u = k * (x + 0.044715 * x * x * x);
      const double t = std::tanh(u);
      return static_cast<float>(0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x));
    });
    return;
  }
  unary(c, in_cot, [](float xf, float) {
    const double x = xf;
    const double cdf = 0.5 * (1 + std::erf(x / std::sqrt(2.0)));
    const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    return static_cast<float>(cdf + x * pdf);
  });
}

void vjp_Sigmoid(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  unary(c, in_cot, [](float, float y) { return y * (1 - y); });
}
void vjp_Tanh(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  unary(c, in_cot, [](float, float y) { return 1 - y * y; });
}
void vjp_Erf(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  unary(c, in_cot, [](float x, float) { return static_cast<float>(2 / std::sqrt(M_PI) * std::exp(-double{x} * x)); });
}
void vjp_Neg(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  unary(c, in_cot, [](float, float) { return -1.f; });
}
void vjp_Identity(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (c.wants[0]) in_cot[0] = c.cotangent(0);
}

}  // namespace

void register_vjp_elementwise(RuleTable& t) {
  t.insert(t.end(), {{"Add", {vjp_arith<Arith::Add>, false, false}},
                     {"Sub", {vjp_arith<Arith::Sub>, false, false}},
                     {"Mul", {vjp_arith<Arith::Mul>, true, false}},
                     {"Div", {vjp_arith<Arith::Div>, true, false}},
                     {"Relu", {vjp_Relu, true, false}},
                     {"Gelu", {vjp_Gelu, true, false}},
                     {"Sigmoid", {vjp_Sigmoid, false, true}},
                     {"Tanh", {vjp_Tanh, false, true}},
                     {"Erf", {vjp_Erf, true, false}},
                     {"Neg", {vjp_Neg, false, false}},
                     {"Identity", {vjp_Identity, false, false}},
                     {"Dropout", {vjp_Identity, false, false}}});
}

}  // namespace qvit
