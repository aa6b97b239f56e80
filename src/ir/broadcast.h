#pragma once
// Numpy-style broadcasting loops shared by elementwise ops: the output is walked row by row
// (last axis innermost), and each input advances with stride 0 along broadcast axes.
#include <array>
#include <vector>

#include "ir/tensor.h"

namespace qvit {

// Strides of `in` aligned to `out`'s axes, 0 where `in` is broadcast.
inline std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  auto st = strides_of(in);
  std::vector<int64_t> r(out.size(), 0);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) r[off + i] = in[i] == 1 ? 0 : st[i];
  return r;
}

// Calls row(out_offset, in_offsets, length, inner_strides) for each innermost row of `out`.
template <size_t N, class RowFn>
void broadcast_rows(const Shape& out, const std::array<Shape, N>& in_shapes, RowFn&& row) {
  const int64_t total = shape_numel(out);
  if (total == 0) return;
  const size_t r = out.size();
  std::array<std::vector<int64_t>, N> st;
  for (size_t k = 0; k < N; ++k) st[k] = broadcast_strides(in_shapes[k], out);
  if (r == 0) {
    std::array<int64_t, N> offs{}, inner{};
    row(int64_t{0}, offs, int64_t{1}, inner);
    return;
  }
  const int64_t len = out[r - 1];
  std::array<int64_t, N> inner;
  for (size_t k = 0; k < N; ++k) inner[k] = st[k][r - 1];
  std::vector<int64_t> idx(r, 0);
  std::array<int64_t, N> offs{};
  for (int64_t o = 0; o < total; o += len) {
    row(o, offs, len, inner);
    // Advance the multi-index over all axes but the last.
    for (int a = static_cast<int>(r) - 2; a >= 0; --a) {
      ++idx[a];
      for (size_t k = 0; k < N; ++k) offs[k] += st[k][a];
      if (idx[a] < out[a]) break;
      for (size_t k = 0; k < N; ++k) offs[k] -= st[k][a] * out[a];
      idx[a] = 0;
    }
  }
}

}  // namespace qvit
