// Integer lowering: Softmax (any axis), GELU and LayerNorm onto the integer kernels of the selected family.
#include <fmt/format.h>

#include "intgraph/lowerer.h"

namespace qvit::lowering {

// Probabilities P at scale 2^-frac (int32) onto the Softmax output's point.
void Lowerer::emit_probabilities(const Node& node, int p_iv, int frac_bits) {
  const int fo = node.outputs[0];
  auto it = points_.find(fo);
  if (it == points_.end()) throw Error("Softmax output has no calibration point");
  const QuantParams& qp = it->second->params;
  const int32_t p_bound = int32_t{1} << frac_bits;
  Meta m;
  m.grid = true;
  m.point = qp;
  m.scale = qp.scale;
  if (qp.scheme == QuantScheme::LogSqrt2) {
    // p/s at the same fraction bits, then log-√2 codes relative to s (x̂ = s·2^(−q/2)).
    const Requant rq = kernels::make_requant(1.0 / qp.scale, p_bound);
    bound_record(node.name, "requantize", kernels::requant_bound(rq, p_bound));
    const int y = emit("QLog2Codes", node.name + ".log2", {p_iv, constant(node.name + ".log2.rq", rq_tensor({rq}))},
                       ig().value(p_iv).shape, {{"frac_bits", int64_t{frac_bits}}, {"code_bits", int64_t{qp.bits}}});
    m.lo = 0;
    m.hi = qp.qmax() + 1;
    set(fo, y, m);
    return;
  }
  Meta pm;
  pm.scale = std::ldexp(1.0, -frac_bits);
  pm.lo = 0;
  pm.hi = p_bound;
  meta_[p_iv] = pm;
  vmap_[fo] = requantize_to(p_iv, qp, node.name + ".quant");
}

// Swaps `axis` with the last axis (its own inverse), keeping the meta.
int Lowerer::swap_to_last(int iv, int axis, const std::string& name) {
  const Shape is = ig().value(iv).shape;
  const int r = static_cast<int>(is.size());
  std::vector<int64_t> perm(static_cast<size_t>(r));
  for (int a = 0; a < r; ++a) perm[a] = a;
  std::swap(perm[axis], perm[r - 1]);
  Shape os = is;
  std::swap(os[axis], os[r - 1]);
  const Meta m = meta_[iv];
  const int y = emit("Transpose", name, {iv}, os, {{"perm", perm}});
  meta_[y] = m;
  return y;
}

void Lowerer::lower_softmax(const Node& node) {
  const int r = static_cast<int>(f_.value(node.inputs[0]).shape.size());
  const int axis = static_cast<int>(node.attr_int("axis", -1) < 0 ? node.attr_int("axis", -1) + r : node.attr_int("axis", -1));
  if (axis < 0 || axis >= r) throw Error("Softmax axis out of range");
  int x = per_tensor_input(node, 0);
  // The integer kernels run over the last axis: over another one (attention sequence pooling,
  // softmax over tokens), the tensor is transposed there and back.
  if (axis != r - 1) x = swap_to_last(x, axis, node.name + ".to_last");
  lower_softmax_last_axis(node, x);
  if (axis != r - 1) {
    const int fo = node.outputs[0];
    vmap_[fo] = swap_to_last(vmap_[fo], axis, node.name + ".from_last");
  }
}

void Lowerer::lower_softmax_last_axis(const Node& node, int x) {
  Meta mx = meta_[x];
  const int32_t cols = static_cast<int32_t>(ig().value(x).shape.back());
  const Shape os = ig().value(x).shape;
  switch (opt_.family) {
    case NonlinearFamily::Shift: {
      const ref::ShiftmaxParams p = kernels::make_shiftmax_params(mx.scale, 15, {ref::ProbFormat::kUniform, kProbBits});
      bound_record(node.name, "shiftmax", kernels::shiftmax_bound(p, cols, mx.bound()));
      const int y = emit("QShiftmax", node.name, {x}, os,
                         {{"i0", int64_t{p.exp.i0}}, {"n", int64_t{p.exp.n}}, {"out_bits", int64_t{kProbBits}}});
      return emit_probabilities(node, y, kProbBits - 1);
    }
    case NonlinearFamily::Poly: {
      const ref::IBertSoftmaxParams p = kernels::make_ibert_softmax_params(mx.scale, {ref::ProbFormat::kUniform, kProbBits});
      bound_record(node.name, "ibert_softmax", kernels::ibert_softmax_bound(p, cols, mx.bound()));
      const int y = emit("QIBertSoftmax", node.name, {x}, os,
                         {{"ln2", int64_t{p.exp.ln2}}, {"b", int64_t{p.exp.b}}, {"c", int64_t{p.exp.c}},
                          {"z_max", int64_t{p.exp.z_max}}, {"out_bits", int64_t{kProbBits}}});
      return emit_probabilities(node, y, kProbBits - 1);
    }
    case NonlinearFamily::Int32Safe: {
      int32_t m_star = opt_.softmax_m_star;
      for (const auto& sm : calib_.softmax)
        if (sm.node == node.name) m_star = sm.m_star;
      const double s_min = kernels::int32safe_softmax_min_input_scale(m_star);
      if (mx.scale < s_min) {
        // Requantize the logits to the coarsest scale the i-exp allows at this M* (MLSys'23).
        const Requant rq = kernels::make_requant(mx.scale / s_min, mx.bound());
        const int32_t nb = clamp_to_i32(std::ceil(mx.bound() * mx.scale / s_min) + 1);
        const int y = emit("QRequantize", node.name + ".in_requant",
                           {x, constant(node.name + ".in_requant.rq", rq_tensor({rq}))}, ig().value(x).shape,
                           {{"axis", int64_t{-1}}, {"lo", int64_t{-nb}}, {"hi", int64_t{nb}}});
        Meta c;
        c.scale = s_min;
        c.lo = -nb;
        c.hi = nb;
        meta_[y] = c;
        x = y;
        mx = c;
      }
      const ref::Int32SafeSoftmaxParams p = kernels::make_int32safe_softmax_params(mx.scale, m_star);
      bound_record(node.name, "int32safe_softmax", kernels::int32safe_softmax_bound(p, cols, mx.bound()));
      const int y = emit("QInt32SafeSoftmax", node.name, {x}, os,
                         {{"ln2", int64_t{p.exp.ln2}}, {"b", int64_t{p.exp.b}}, {"c", int64_t{p.exp.c}},
                          {"z_max", int64_t{p.exp.z_max}}, {"m_star", int64_t{m_star}}});
      return emit_probabilities(node, y, m_star);
    }
  }
}

void Lowerer::lower_gelu(const Node& node) {
  int x = per_tensor_input(node, 0);
  Meta mx = meta_[x];
  const Shape& os = f_.value(node.outputs[0]).shape;
  int y = -1;
  double out_scale = 1;
  double worst = 0;
  switch (opt_.family) {
    case NonlinearFamily::Shift: {
      const ref::ShiftGeluParams p = kernels::make_shiftgelu_params(mx.scale, kSigmoidBits);
      const auto b = kernels::shiftgelu_bound(p, mx.bound());
      bound_record(node.name, "shiftgelu", b);
      y = emit("QShiftGelu", node.name, {x}, os,
               {{"i0", int64_t{p.exp.i0}}, {"n", int64_t{p.exp.n}}, {"sigmoid_bits", int64_t{p.sigmoid_bits}}});
      out_scale = kernels::shiftgelu_output_scale(mx.scale, p);
      worst = double(mx.bound()) * std::ldexp(1.0, kSigmoidBits - 1);
      break;
    }
    case NonlinearFamily::Poly:
    case NonlinearFamily::Int32Safe: {
      if (opt_.family == NonlinearFamily::Int32Safe && mx.bound() > kernels::kInt32SafeGeluMaxInput)
        throw Error("GELU input has " + std::to_string(mx.bound()) + " levels; the int32-safe GELU needs < 10 bits");
      const ref::IBertGeluParams p = opt_.family == NonlinearFamily::Poly
                                         ? kernels::make_ibert_gelu_params(mx.scale)
                                         : kernels::make_int32safe_gelu_params(mx.scale, mx.bound());
      const auto b = kernels::ibert_gelu_bound(p, mx.bound());
      bound_record(node.name, opt_.family == NonlinearFamily::Poly ? "ibert_gelu" : "int32safe_gelu", b);
      y = emit("QIBertGelu", node.name, {x}, os,
               {{"clip", int64_t{p.erf.clip}}, {"one", int64_t{p.erf.one}}, {"shift", int64_t{p.erf.shift}},
                {"one_shifted", int64_t{p.one_shifted}}});
      out_scale = kernels::ibert_gelu_output_scale(mx.scale, p);
      worst = double(mx.bound()) * 2.0 * p.one_shifted;
      break;
    }
  }
  Meta m;
  m.scale = out_scale;
  m.lo = -clamp_to_i32(worst);
  m.hi = clamp_to_i32(worst);
  set(node.outputs[0], y, m);
}

void Lowerer::lower_layernorm(const Node& node) {
  const int x = per_tensor_input(node, 0);
  const Meta mx = meta_[x];
  if (!mx.grid) throw Error("LayerNorm input is not on a quantization grid (no calibration point)");
  const int fo = node.outputs[0];
  auto it = points_.find(fo);
  if (it == points_.end()) throw Error("LayerNorm output has no calibration point");
  const QuantParams& qp = it->second->params;
  const Tensor gamma = f_.constant(node.inputs.at(1)).cast(DType::Float32);
  const Tensor beta = node.inputs.size() > 2 && node.inputs[2] >= 0 ? f_.constant(node.inputs[2]).cast(DType::Float32)
                                                                     : Tensor(DType::Float32, gamma.shape());
  const int32_t in_bits = std::max<int32_t>(1, kernels::bit_length(mx.bound()));
  const ref::ILayerNormParams p = kernels::make_ilayernorm_params(
      std::vector<float>(gamma.data<float>(), gamma.data<float>() + gamma.numel()),
      std::vector<float>(beta.data<float>(), beta.data<float>() + beta.numel()), node.attr_float("epsilon", 1e-5f),
      mx.scale, in_bits, qp.scale, grid_range(qp), 15);
  bound_record(node.name, "ilayernorm", kernels::ilayernorm_bound(p, mx.bound()));
  const int64_t channels = gamma.numel();
  Tensor g(DType::Int32, {channels}), b(DType::Int32, {channels});
  std::copy(p.gamma.begin(), p.gamma.end(), g.data<int32_t>());
  std::copy(p.beta.begin(), p.beta.end(), b.data<int32_t>());
  const int y = emit("QLayerNorm", node.name,
                     {x, constant(node.name + ".gamma_q", g), constant(node.name + ".beta_q", b),
                      constant(node.name + ".rq", rq_tensor(p.rq))},
                     f_.value(fo).shape,
                     {{"input_bits", int64_t{p.input_bits}}, {"shift_m", int64_t{p.shift_m}},
                      {"var_eps", int64_t{p.var_eps}}, {"lo", int64_t{p.range.lo}}, {"hi", int64_t{p.range.hi}}});
  Meta m;
  m.grid = true;
  m.point = qp;
  m.scale = qp.scale;
  m.lo = p.range.lo;
  m.hi = p.range.hi;
  set(fo, y, m);
}

}  // namespace qvit::lowering
