// Integer lowering: Linear / Conv (per-channel weights) and activation MatMul (QKᵀ, attention·V, log2 attention).
#include <fmt/format.h>

#include "intgraph/lowerer.h"

namespace qvit::lowering {

Tensor Lowerer::quantize_weight(const Node& node, const Tensor& w, int axis, std::vector<double>& w_scales, int32_t& w_max) {
  auto it = weights_.find(node.name);
  if (it == weights_.end()) throw Error("the calibration has no weight quantizer for this layer");
  const ChannelQuantParams& cp = it->second->params;
  if (w.shape()[axis] != static_cast<int64_t>(cp.scale.size())) throw Error("weight channels differ from the calibration");
  Tensor q(DType::Int32, w.shape());
  int64_t inner = 1;
  for (int a = axis + 1; a < w.rank(); ++a) inner *= w.shape()[a];
  const int64_t channels = w.shape()[axis];
  const Tensor wf = w.cast(DType::Float32);
  w_max = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const QuantParams p = cp.channel(static_cast<size_t>((i / inner) % channels));
    const int32_t v = p.quantize(wf.data<float>()[i]) - p.zero_point;
    q.data<int32_t>()[i] = v;
    w_max = std::max(w_max, std::abs(v));
  }
  w_scales.assign(cp.scale.begin(), cp.scale.end());
  return q;
}

void Lowerer::lower_linear(const Node& node) {
  const bool conv = node.op == "Conv";
  if (node.inputs.size() < 2 || !f_.is_constant(node.inputs[1])) throw Error("weight must be a constant");
  const int x = in(node, 0);
  const Meta mx = meta_[x];
  if (mx.per_channel || !mx.grid) throw Error("input is not on a quantization grid (no calibration point)");
  const Tensor& wf = f_.constant(node.inputs[1]);
  std::vector<double> ws;
  int32_t w_max = 0;
  Tensor wq = quantize_weight(node, wf, conv ? 0 : 1, ws, w_max);
  const int64_t k = conv ? wf.numel() / wf.shape()[0] : wf.shape()[0];
  const int64_t n = conv ? wf.shape()[0] : wf.shape()[1];
  std::vector<double> acc_scales(static_cast<size_t>(n));
  for (int64_t c = 0; c < n; ++c) acc_scales[c] = double(mx.scale) * ws[c];
  std::vector<int> inputs = {x, constant(node.name + ".weight_q", std::move(wq))};
  int32_t bias_max = 0;
  if (node.inputs.size() > 2 && node.inputs[2] >= 0) {
    const Tensor b = f_.constant(node.inputs[2]).cast(DType::Float64);
    Tensor bq(DType::Int32, {n});
    for (int64_t c = 0; c < n; ++c) {
      const double v = std::round(b.data<double>()[c] / acc_scales[c]);
      // (NaN fails too: a NaN bias, or one a reparameterization made infinite, has no integer.)
      if (!(std::abs(v) <= double(1 << 30))) throw Error("bias does not fit int32 at the accumulator scale");
      bq.data<int32_t>()[c] = static_cast<int32_t>(v);
      bias_max = std::max(bias_max, std::abs(bq.data<int32_t>()[c]));
    }
    inputs.push_back(constant(node.name + ".bias_q", std::move(bq)));
  }
  const kernels::KernelBound b = kernels::matmul_bound(static_cast<int32_t>(k), mx.bound(), w_max, bias_max);
  bound_record(node.name, conv ? "conv" : "matmul", b);
  if (!kernels::fits_int32(b)) throw Error(fmt::format("int32 range proof failed: the accumulator can reach {:.0f}", b.worst_abs));
  std::map<std::string, AttrValue> attrs;
  if (conv)
    for (const char* a : {"strides", "pads", "dilations", "group"})
      if (node.has_attr(a)) attrs[a] = node.attrs.at(a);
  const int y = emit(conv ? "QConv" : "QMatMul", node.name, inputs, f_.value(node.outputs[0]).shape, attrs);
  Meta m;
  m.per_channel = true;
  m.scales = acc_scales;
  m.axis = conv ? 1 : static_cast<int>(f_.value(node.outputs[0]).shape.size()) - 1;
  m.lo = -clamp_to_i32(b.worst_abs);
  m.hi = clamp_to_i32(b.worst_abs);
  set(node.outputs[0], y, m);
}

void Lowerer::lower_matmul(const Node& node) {
  const int a = per_tensor_input(node, 0), b = per_tensor_input(node, 1);
  const Meta ma = meta_[a], mb = meta_[b];
  const int32_t k = static_cast<int32_t>(ig().value(a).shape.back());
  const Shape& os = f_.value(node.outputs[0]).shape;
  Meta m;
  if (ma.grid && ma.point.scheme == QuantScheme::LogSqrt2) {
    const ref::Log2MatmulParams p = kernels::make_log2_matmul_params(k, mb.bound(), ma.point.bits);
    bound_record(node.name, "log2_matmul", kernels::log2_matmul_bound(p, k, mb.bound()));
    const int y = emit("QLog2MatMul", node.name, {a, b}, os,
                       {{"frac_bits", int64_t{p.frac_bits}}, {"sqrt2", int64_t{p.sqrt2}}, {"code_bits", int64_t{p.code_bits}}});
    m.scale = double(ma.point.scale) * mb.scale * std::ldexp(1.0, -p.frac_bits);
    const double worst = kernels::log2_matmul_bound(p, k, mb.bound()).worst_abs;
    m.lo = -clamp_to_i32(worst);
    m.hi = clamp_to_i32(worst);
    set(node.outputs[0], y, m);
    return;
  }
  const kernels::KernelBound bd = kernels::matmul_bound(k, ma.bound(), mb.bound(), 0);
  bound_record(node.name, "matmul", bd);
  if (!kernels::fits_int32(bd)) throw Error(fmt::format("int32 range proof failed: the accumulator can reach {:.0f}", bd.worst_abs));
  const int y = emit("QMatMul", node.name, {a, b}, os);
  m.scale = ma.scale * mb.scale;
  m.lo = -clamp_to_i32(bd.worst_abs);
  m.hi = clamp_to_i32(bd.worst_abs);
  set(node.outputs[0], y, m);
}

}  // namespace qvit::lowering
