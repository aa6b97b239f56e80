#pragma once
// Geometry of the sliding-window ops (Conv, MaxPool) from their ONNX attributes: kernel_shape,
// strides, dilations, pads, auto_pad and (pools) ceil_mode, over the spatial axes of an
// [N, C, spatial...] input. Every attribute is validated (one entry per spatial axis, two for
// pads; strides, dilations and kernel dims ≥ 1; pads ≥ 0) and the output size computed with
// overflow checks, so a hostile attribute is an Error naming the node and the attribute, never a
// division by zero, an out-of-range read or an overflow.
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

}  // namespace qvit
