// MaxPool (ONNX opset 1–12 semantics: kernel_shape, strides, pads, dilations, ceil_mode,
// auto_pad), N spatial dimensions, any numeric element type: the integer runtime runs the same
// kernel on int32 codes, where the maximum of codes is the code of the maximum (scales are
// positive), so pooling never changes a grid.
#include <algorithm>
#include <limits>

#include "ir/op_registry.h"

namespace qvit {
namespace {

struct PoolGeometry {
  std::vector<int64_t> in, kernel, strides, dilations, pads_begin, out;
};

PoolGeometry pool_geometry(const OpCall& c, const Shape& x) {
  const int spatial = static_cast<int>(x.size()) - 2;
  if (spatial < 1) c.fail("input must have rank >= 3 ([N, C, spatial...])");
  PoolGeometry g;
  g.in.assign(x.begin() + 2, x.end());
  g.kernel = c.node.attr_ints("kernel_shape");
  if (static_cast<int>(g.kernel.size()) != spatial) c.fail("kernel_shape must have one entry per spatial axis");
  g.strides = c.node.attr_ints("strides", std::vector<int64_t>(spatial, 1));
  g.dilations = c.node.attr_ints("dilations", std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> pads = c.node.attr_ints("pads", std::vector<int64_t>(2 * spatial, 0));
  if (static_cast<int>(g.strides.size()) != spatial || static_cast<int>(g.dilations.size()) != spatial ||
      static_cast<int>(pads.size()) != 2 * spatial)
    c.fail("strides, dilations and pads must match the spatial rank");
  const bool ceil_mode = c.node.attr_int("ceil_mode", 0) != 0;
  const std::string auto_pad = c.node.attr_string("auto_pad", "NOTSET");
  g.pads_begin.resize(spatial);
  g.out.resize(spatial);
  for (int d = 0; d < spatial; ++d) {
    const int64_t k = g.kernel[d], s = g.strides[d], dil = g.dilations[d];
    if (k < 1 || s < 1 || dil < 1 || pads[d] < 0 || pads[d + spatial] < 0) c.fail("kernel, strides, dilations must be positive");
    const int64_t span = dil * (k - 1) + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.out[d] = (g.in[d] + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (g.out[d] - 1) * s + span - g.in[d]);
      g.pads_begin[d] = auto_pad == "SAME_LOWER" ? total - total / 2 : total / 2;
      continue;
    }
    const int64_t pb = auto_pad == "VALID" ? 0 : pads[d], pe = auto_pad == "VALID" ? 0 : pads[d + spatial];
    const int64_t room = g.in[d] + pb + pe - span;
    if (room < 0) c.fail("kernel larger than the padded input");
    g.out[d] = (ceil_mode ? (room + s - 1) / s : room / s) + 1;
    // With ceil_mode, a last window that would start in the end padding is dropped (as PyTorch does).
    if (ceil_mode && (g.out[d] - 1) * s >= g.in[d] + pb) --g.out[d];
    g.pads_begin[d] = pb;
  }
  return g;
}

template <class T>
void max_pool(const Tensor& x, const PoolGeometry& g, Tensor& y) {
  const int spatial = static_cast<int>(g.in.size());
  int64_t in_plane = 1, out_plane = 1;
  for (int d = 0; d < spatial; ++d) in_plane *= g.in[d], out_plane *= g.out[d];
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const T* px = x.data<T>();
  T* py = y.data<T>();
  std::vector<int64_t> o(spatial), k(spatial);
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t oi = 0; oi < out_plane; ++oi) {
      int64_t r = oi;
      for (int d = spatial - 1; d >= 0; --d) o[d] = r % g.out[d], r /= g.out[d];
      T best = std::numeric_limits<T>::lowest();
      bool any = false;
      std::fill(k.begin(), k.end(), 0);
      while (true) {
        int64_t off = 0;
        bool inside = true;
        for (int d = 0; d < spatial; ++d) {
          const int64_t i = o[d] * g.strides[d] - g.pads_begin[d] + k[d] * g.dilations[d];
          if (i < 0 || i >= g.in[d]) inside = false;
          off = off * g.in[d] + i;
        }
        if (inside) {
          const T v = px[p * in_plane + off];
          if (!any || v > best) best = v;
          any = true;
        }
        int d = spatial - 1;
        while (d >= 0 && ++k[d] == g.kernel[d]) k[d--] = 0;
        if (d < 0) break;
      }
      py[p * out_plane + oi] = best;
    }
  }
}

void op_MaxPool(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  if (out.size() > 1 && c.node.outputs.size() > 1 && c.node.outputs[1] >= 0) c.fail("the Indices output is not supported");
  if (c.node.attr_int("storage_order", 0) != 0) c.fail("storage_order 1 is not supported");
  const PoolGeometry g = pool_geometry(c, x.shape());
  Shape ys = {x.shape()[0], x.shape()[1]};
  ys.insert(ys.end(), g.out.begin(), g.out.end());
  out[0] = Tensor(x.dtype(), ys, Tensor::Uninitialized{});
  switch (x.dtype()) {
    case DType::Float32: return max_pool<float>(x, g, out[0]);
    case DType::Float64: return max_pool<double>(x, g, out[0]);
    case DType::Int32: return max_pool<int32_t>(x, g, out[0]);
    case DType::Int64: return max_pool<int64_t>(x, g, out[0]);
    case DType::Int8: return max_pool<int8_t>(x, g, out[0]);
    case DType::UInt8: return max_pool<uint8_t>(x, g, out[0]);
    default: c.fail(std::string("MaxPool of ") + dtype_name(x.dtype()) + " is not supported");
  }
}

}  // namespace

void register_pool_ops(OpTable& t) { t.insert(t.end(), {{"MaxPool", op_MaxPool}}); }

}  // namespace qvit
