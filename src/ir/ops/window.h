#pragma once
// Geometry of the sliding-window ops (Conv, MaxPool) from their ONNX attributes: kernel_shape,
// strides, dilations, pads, auto_pad and (pools) ceil_mode, over the spatial axes of an
// [N, C, spatial...] input. Every attribute is validated (one entry per spatial axis, two for
// pads; strides, dilations and kernel dims ≥ 1; pads ≥ 0) and the output size computed with
// overflow checks, so a hostile attribute is an Error naming the node and the attribute, never a
// division by zero, an out-of-range read or an overflow.
#include <algorithm>
#include <vector>

#include "ir/op_registry.h"

namespace qvit {

struct WindowGeometry {
  std::vector<int64_t> in, kernel, strides, dilations, pads_begin, pads_end, out;  // per spatial axis
};

struct WindowOptions {
  // The kernel's spatial dims when a weight defines them (Conv): kernel_shape, if given, must
  // equal them. Empty for pools, where kernel_shape is required.
  std::vector<int64_t> weight_kernel;
  bool allow_ceil_mode = false;  // MaxPool's ceil_mode attribute
};

WindowGeometry window_geometry(const OpCall& c, const Shape& x, const WindowOptions& options);

// A 1-D or 2-D geometry seen as 2-D (a 1-D axis is the width, with a height-1 axis in front), as
// the Conv kernels and their gradient walk it.
struct Window2d {
  int64_t H, W, KH, KW, SH, SW, DH, DW, PH, PW, OH, OW;
};
Window2d window_2d(const WindowGeometry& g);

// Calls tap(offset) for the input offsets (row-major within one [spatial...] plane) of every
// kernel tap of output position `out_index` that falls inside the input, in kernel order; returns
// false (calling nothing) when none does. Visits only the taps inside the input, so a hostile
// kernel of 2^40 taps over a padded 1-element input costs one tap.
template <class Tap>
bool for_each_window_tap(const WindowGeometry& g, int64_t out_index, Tap&& tap) {
  const size_t spatial = g.in.size();
  int64_t o[8], k[8], k_lo[8], k_hi[8], base[8];
  if (spatial > 8) return false;
  for (size_t d = spatial; d-- > 0;) o[d] = out_index % g.out[d], out_index /= g.out[d];
  for (size_t d = 0; d < spatial; ++d) {
    base[d] = o[d] * g.strides[d] - g.pads_begin[d];
    const int64_t dil = g.dilations[d];
    // ceil(n / dil) as (n − 1) / dil + 1, which cannot overflow for a huge dilation.
    k_lo[d] = base[d] >= 0 ? 0 : (-base[d] - 1) / dil + 1;
    k_hi[d] = base[d] >= g.in[d] ? 0 : std::min(g.kernel[d], (g.in[d] - base[d] - 1) / dil + 1);
    if (k_lo[d] >= k_hi[d]) return false;
    k[d] = k_lo[d];
  }
  while (true) {
    int64_t off = 0;
    for (size_t d = 0; d < spatial; ++d) off = off * g.in[d] + base[d] + k[d] * g.dilations[d];
    tap(off);
    size_t d = spatial;
    while (d > 0 && ++k[d - 1] == k_hi[d - 1]) k[d - 1] = k_lo[d - 1], --d;
    if (d == 0) return true;
  }
}

}  // namespace qvit
