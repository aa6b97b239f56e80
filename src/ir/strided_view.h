#pragma once
// A value seen as a strided window on another value's buffer: what a chain of pure data-movement
// ops (Transpose, Reshape, Slice with positive steps, Squeeze/Unsqueeze/Flatten) computes, without
// copying. The float executor uses it to let a MatMul read its operands straight from the tensor a
// head split started from (see matmul_fold.h).
#include <optional>
#include <vector>

#include "ir/graph.h"

namespace qvit {

struct StridedView {
  Shape shape;
  std::vector<int64_t> strides;  // in elements of the source buffer
  int64_t offset = 0;

  static StridedView contiguous(const Shape& shape);
};

// The view of `node`'s output given the view of its data input, or nothing when the op is not pure
// data movement or the result is not expressible with strides (e.g. a Reshape across a Transpose).
// Shapes come from the graph's static value shapes; constant operands (Slice bounds) from the graph.
std::optional<StridedView> view_through(const Graph& g, const Node& node, const StridedView& in);

// Reinterprets `in` with `shape` (same element count) without copying, as NumPy's no-copy reshape.
std::optional<StridedView> reshape_view(const StridedView& in, const Shape& shape);

}  // namespace qvit
