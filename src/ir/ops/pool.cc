// MaxPool (ONNX opset 1–12 semantics: kernel_shape, strides, pads, dilations, ceil_mode,
// auto_pad), N spatial dimensions, any numeric element type: the integer runtime runs the same
// kernel on int32 codes, where the maximum of codes is the code of the maximum (scales are
// positive), so pooling never changes a grid.
#include <algorithm>
#include <limits>

#include "ir/op_registry.h"
#include "ir/ops/window.h"

namespace qvit {
namespace {

// Max over each window, visiting only the kernel taps that fall inside the input (a hostile
// kernel of 2^40 taps over a padded 1-element input costs one tap, not 2^40).
template <class T>
void max_pool(const Tensor& x, const WindowGeometry& g, Tensor& y) {
  const int spatial = static_cast<int>(g.in.size());
  int64_t in_plane = 1, out_plane = 1;
  for (int d = 0; d < spatial; ++d) in_plane *= g.in[d], out_plane *= g.out[d];
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const T* px = x.data<T>();
  T* py = y.data<T>();
  std::vector<int64_t> o(spatial), k(spatial), k_lo(spatial), k_hi(spatial), base(spatial);
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t oi = 0; oi < out_plane; ++oi) {
      int64_t r = oi;
      for (int d = spatial - 1; d >= 0; --d) o[d] = r % g.out[d], r /= g.out[d];
      // Taps k with 0 ≤ base + k·dilation < in, per axis.
      bool any = true;
      for (int d = 0; d < spatial; ++d) {
        base[d] = o[d] * g.strides[d] - g.pads_begin[d];
        const int64_t dil = g.dilations[d];
        // ceil(n / dil) as (n − 1) / dil + 1, which cannot overflow for a huge dilation.
        k_lo[d] = base[d] >= 0 ? 0 : (-base[d] - 1) / dil + 1;
        k_hi[d] = base[d] >= g.in[d] ? 0 : std::min(g.kernel[d], (g.in[d] - base[d] - 1) / dil + 1);
        any = any && k_lo[d] < k_hi[d];
      }
      T best = std::numeric_limits<T>::lowest();
      if (any) {
        k = k_lo;
        bool first = true;
        while (true) {
          int64_t off = 0;
          for (int d = 0; d < spatial; ++d) off = off * g.in[d] + base[d] + k[d] * g.dilations[d];
          const T v = px[p * in_plane + off];
          if (first || v > best) best = v;
          first = false;
          int d = spatial - 1;
          while (d >= 0 && ++k[d] == k_hi[d]) k[d] = k_lo[d], --d;
          if (d < 0) break;
        }
      }
      py[p * out_plane + oi] = best;
    }
  }
}

void op_MaxPool(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  if (out.size() > 1 && c.node.outputs.size() > 1 && c.node.outputs[1] >= 0) c.fail("the Indices output is not supported");
  if (c.node.attr_int("storage_order", 0) != 0) c.fail("storage_order 1 is not supported");
  WindowOptions options;
  options.allow_ceil_mode = true;
  const WindowGeometry g = window_geometry(c, x.shape(), options);
  Shape ys = {x.shape()[0], x.shape()[1]};
  ys.insert(ys.end(), g.out.begin(), g.out.end());
  out[0] = Tensor(x.dtype(), ys, Tensor::Uninitialized{});
  if (out[0].numel() == 0) return;  // (before max_pool's products of possibly huge empty dims)
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
