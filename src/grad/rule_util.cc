#include "grad/rule_util.h"

#include <algorithm>
#include <unordered_map>

#include "ir/broadcast.h"

namespace qvit {

Tensor reduce_to_shape(const Tensor& g, const Shape& s) {
  if (g.shape() == s) return g;
  Tensor r(DType::Float32, s);
  if (r.numel() == 0 || g.numel() == 0) return r;
  float* dst = r.data<float>();
  const float* src = g.data<float>();
  // Walk g's rows; each element adds into the broadcast position of r.
  broadcast_rows<1>(g.shape(), {s}, [&](int64_t o, const std::array<int64_t, 1>& offs, int64_t len,
                                        const std::array<int64_t, 1>& inner) {
    for (int64_t k = 0; k < len; ++k) dst[offs[0] + k * inner[0]] += src[o + k];
  });
  return r;
}

Tensor broadcast_to_shape(const Tensor& t, const Shape& s) {
  if (t.shape() == s) return t;
  Tensor r(DType::Float32, s, Tensor::Uninitialized{});
  float* dst = r.data<float>();
  const float* src = t.data<float>();
  broadcast_rows<1>(s, {t.shape()}, [&](int64_t o, const std::array<int64_t, 1>& offs, int64_t len,
                                        const std::array<int64_t, 1>& inner) {
    for (int64_t k = 0; k < len; ++k) dst[o + k] = src[offs[0] + k * inner[0]];
  });
  return r;
}

Tensor multiply(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) throw InternalError("multiply: shapes differ");
  Tensor r(DType::Float32, a.shape(), Tensor::Uninitialized{});
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pr = r.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) pr[i] = pa[i] * pb[i];
  return r;
}

Tensor safe_divide(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) throw InternalError("safe_divide: shapes differ");
  Tensor r(DType::Float32, a.shape(), Tensor::Uninitialized{});
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pr = r.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) pr[i] = safe_div(pa[i], pb[i]);
  return r;
}

double sum_of(const Tensor& t) {
  double s = 0;
  for (float v : t.values<float>()) s += v;
  return s;
}

std::vector<Tensor> run_forward_op(const BackwardCall& c, const std::vector<const Tensor*>& inputs, size_t outputs) {
  OpFn fn = find_op(c.node.op);
  if (!fn) c.fail("no forward kernel");
  OpCall call{c.node, inputs, c.opset};
  std::vector<Tensor> out(outputs);
  fn(call, out);
  return out;
}

OpCall attribute_call(const BackwardCall& c) { return OpCall{c.node, {}, c.opset}; }

namespace {
template <class Register>
std::unordered_map<std::string, BackwardRule> build(Register&& reg) {
  RuleTable t;
  reg(t);
  return std::unordered_map<std::string, BackwardRule>(t.begin(), t.end());
}
const std::unordered_map<std::string, BackwardRule>& vjp_table() {
  static const auto table = build([](RuleTable& t) {
    register_vjp_linear(t);
    register_vjp_elementwise(t);
    register_vjp_nn(t);
    register_vjp_movement(t);
  });
  return table;
}
std::vector<std::string> keys(const std::unordered_map<std::string, BackwardRule>& m) {
  std::vector<std::string> k;
  for (const auto& [name, rule] : m) k.push_back(name);
  std::sort(k.begin(), k.end());
  return k;
}
}  // namespace

const BackwardRule* vjp_rule(const std::string& op_type) {
  auto it = vjp_table().find(op_type);
  return it == vjp_table().end() ? nullptr : &it->second;
}

std::vector<std::string> vjp_ops() { return keys(vjp_table()); }

}  // namespace qvit
