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

// Max over each window's taps inside the input (the first maximum on ties).
template <class T>
void max_pool(const Tensor& x, const WindowGeometry& g, Tensor& y) {
  int64_t in_plane = 1, out_plane = 1;
  for (size_t d = 0; d < g.in.size(); ++d) in_plane *= g.in[d], out_plane *= g.out[d];
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oi = 0; oi < out_plane; ++oi) {
      T best = std::numeric_limits<T>::lowest();
      bool first = true;
      for_each_window_tap(g, oi, [&](int64_t off) {
        const T v = px[p * in_plane + off];
        if (first || v > best) best = v;
        first = false;
      });
      py[p * out_plane + oi] = best;
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
