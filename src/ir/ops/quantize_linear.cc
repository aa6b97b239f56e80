// QuantizeLinear / DequantizeLinear (opsets 10–17, per tensor or per axis), so that the float
// engine runs the QDQ models qvit exports (and ONNX Runtime's quantizer writes): y = saturate(
// round_half_even(x / scale) + zero_point) to int8/uint8, and x = (q − zero_point) · scale.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/op_registry.h"

namespace qvit {
namespace {

// Scale and zero point of element i: one for the tensor, or one per index along `axis`.
struct AxisParams {
  int64_t inner = 1, channels = 1;
  int64_t channel(int64_t i) const { return channels == 1 ? 0 : (i / inner) % channels; }
};

AxisParams axis_params(const OpCall& c, const Tensor& x, const Tensor& scale) {
  AxisParams p;
  if (scale.numel() == 1) return p;
  if (scale.rank() != 1) c.fail("scale must be a scalar or 1-D");
  const int axis = normalize_axis(c, c.node.attr_int("axis", 1), x.rank());
  if (x.shape()[axis] != scale.numel()) c.fail("scale has " + std::to_string(scale.numel()) + " entries, axis " +
                                             std::to_string(axis) + " has " + std::to_string(x.shape()[axis]));
  p.channels = scale.numel();
  p.inner = span_numel(c, x.shape(), static_cast<size_t>(axis) + 1, x.shape().size());
  return p;
}

std::vector<int64_t> zero_points(const OpCall& c, const Tensor* zp, int64_t channels) {
  std::vector<int64_t> z(static_cast<size_t>(channels), 0);
  if (!zp) return z;
  const std::vector<int64_t> v = zp->as_int64s();
  if (static_cast<int64_t>(v.size()) != channels && v.size() != 1) c.fail("zero point does not match the scale");
  for (int64_t k = 0; k < channels; ++k) z[k] = v.size() == 1 ? v[0] : v[k];
  return z;
}

template <class Q>
void quantize(const Tensor& x, const Tensor& scale, const std::vector<int64_t>& zp, const AxisParams& ax, Tensor& y) {
  const float* px = x.data<float>();
  const float* ps = scale.data<float>();
  Q* py = y.data<Q>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t k = ax.channel(i);
    // x / scale in float32, as ONNX defines it (a double division rounds some halves differently).
    double v = static_cast<double>(std::nearbyint(px[i] / ps[k])) + static_cast<double>(zp[k]);
    // A NaN (NaN input, 0/0 with a zero scale) has no code: it maps to the zero point, where a
    // cast of NaN would be undefined. ±inf saturate like any out-of-range value.
    if (std::isnan(v)) v = static_cast<double>(zp[k]);
    py[i] = static_cast<Q>(std::clamp(v, double(std::numeric_limits<Q>::min()), double(std::numeric_limits<Q>::max())));
  }
}

void op_QuantizeLinear(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const Tensor& scale = c.input(1);
  const Tensor* zp = c.optional_input(2);
  if (x.dtype() != DType::Float32 || scale.dtype() != DType::Float32) c.fail("expects float32 input and scale");
  const DType qt = zp ? zp->dtype() : DType::UInt8;
  if (qt != DType::UInt8 && qt != DType::Int8) c.fail("quantizes to uint8 or int8 only");
  const AxisParams ax = axis_params(c, x, scale);
  const std::vector<int64_t> z = zero_points(c, zp, ax.channels);
  out[0] = Tensor(qt, x.shape(), Tensor::Uninitialized{});
  if (qt == DType::UInt8) quantize<uint8_t>(x, scale, z, ax, out[0]);
  else quantize<int8_t>(x, scale, z, ax, out[0]);
}

void op_DequantizeLinear(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& q = c.input(0);
  const Tensor& scale = c.input(1);
  if (scale.dtype() != DType::Float32) c.fail("expects a float32 scale");
  if (q.dtype() != DType::UInt8 && q.dtype() != DType::Int8 && q.dtype() != DType::Int32)
    c.fail("dequantizes uint8, int8 or int32 only");
  const Tensor* zp = c.optional_input(2);
  if (zp && zp->dtype() != q.dtype())
    c.fail(std::string("zero point is ") + dtype_name(zp->dtype()) + ", the input " + dtype_name(q.dtype()));
  const AxisParams ax = axis_params(c, q, scale);
  const std::vector<int64_t> z = zero_points(c, zp, ax.channels);
  const std::vector<int64_t> v = q.as_int64s();
  out[0] = Tensor(DType::Float32, q.shape(), Tensor::Uninitialized{});
  float* py = out[0].data<float>();
  const float* ps = scale.data<float>();
  for (int64_t i = 0; i < q.numel(); ++i) {
    const int64_t k = ax.channel(i);
    py[i] = static_cast<float>(v[static_cast<size_t>(i)] - z[k]) * ps[k];
  }
}

}  // namespace

void register_quantize_linear_ops(OpTable& t) {
  t.insert(t.end(), {{"QuantizeLinear", op_QuantizeLinear}, {"DequantizeLinear", op_DequantizeLinear}});
}

}  // namespace qvit
