// Transpose (ir/ops/shape_ops.cc) equals its definition y[i0..ir] = x[i_perm^-1...] for every
// permutation of ranks 1-6, with size-1 axes, axes it merges and axes it cannot, for 1-, 4- and
// 8-byte elements, large enough that the rows are split between threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "ir/executor.h"
#include "ir_test_util.h"

namespace qvit {
namespace {

// The definition, one output element at a time.
template <class E>
std::vector<E> transpose_by_definition(const std::vector<E>& x, const Shape& in, const std::vector<int64_t>& perm) {
  const int r = static_cast<int>(in.size());
  Shape out(r);
  for (int i = 0; i < r; ++i) out[i] = in[perm[i]];
  const auto in_st = strides_of(in);
  std::vector<E> y(x.size());
  for (size_t o = 0; o < y.size(); ++o) {
    int64_t rem = static_cast<int64_t>(o), src = 0;
    for (int a = r - 1; a >= 0; --a) {
      src += (rem % out[a]) * in_st[perm[a]];
      rem /= out[a];
    }
    y[o] = x[static_cast<size_t>(src)];
  }
  return y;
}

template <class E>
void expect_transpose(DType dtype, const Shape& shape, const std::vector<int64_t>& perm, uint32_t seed) {
  Tensor x(dtype, shape);
  std::mt19937 rng(seed);
  std::vector<E> values(static_cast<size_t>(x.numel()));
  for (auto& v : values) v = static_cast<E>(rng());
  std::copy(values.begin(), values.end(), reinterpret_cast<E*>(x.raw()));
  test::GraphBuilder b;
  const int in = b.input("x", shape);
  b.g.values[in].dtype = dtype;
  const int y = b.node("Transpose", {in}, {{"perm", perm}}, "t");
  const Tensor got = test::run1(b.finish({y}), {x});
  const std::vector<E> want = transpose_by_definition(values, shape, perm);
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  const E* g = reinterpret_cast<const E*>(got.raw());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(g[i], want[i]) << "element " << i << " of " << shape_str(shape);
}

TEST(Transpose, EveryPermutationEqualsTheDefinition) {
  std::mt19937 rng(3);
  for (int r = 1; r <= 6; ++r) {
    for (int trial = 0; trial < 12; ++trial) {
      Shape shape(r);
      for (auto& d : shape) d = std::uniform_int_distribution<int64_t>(1, r <= 3 ? 40 : 7)(rng);
      std::vector<int64_t> perm(r);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      SCOPED_TRACE(shape_str(shape));
      expect_transpose<uint8_t>(DType::UInt8, shape, perm, rng());
      expect_transpose<int32_t>(DType::Int32, shape, perm, rng());
      expect_transpose<int64_t>(DType::Int64, shape, perm, rng());
    }
  }
  // The shapes of attention and window attention: merged and kept axes, a threaded size.
  expect_transpose<int32_t>(DType::Int32, {8, 197, 3, 6, 64}, {2, 0, 3, 1, 4}, 1);
  expect_transpose<int32_t>(DType::Int32, {16, 7, 4, 7, 4, 96}, {0, 1, 3, 2, 4, 5}, 2);
  expect_transpose<uint8_t>(DType::UInt8, {2, 1, 33, 1, 17}, {4, 3, 2, 1, 0}, 3);
  expect_transpose<int32_t>(DType::Int32, {1, 1, 1}, {2, 0, 1}, 4);
}

}  // namespace
}  // namespace qvit
