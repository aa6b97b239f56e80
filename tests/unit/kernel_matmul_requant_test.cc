// Matmul, requantize and add reference kernels against exact 64-bit / double references.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/dyadic.h"
#include "kernels/kernel_bounds.h"
#include "kernels/reference/add.h"
#include "kernels/reference/matmul.h"
#include "kernels/reference/requantize.h"

namespace qvit::kernels {
namespace {

using testing::random_ints;

std::vector<int64_t> ref_matmul(const std::vector<int32_t>& a, const std::vector<int32_t>& b,
                                const std::vector<int32_t>& bias, int32_t m, int32_t k, int32_t n) {
  std::vector<int64_t> c(m * n);
  for (int32_t i = 0; i < m; ++i)
    for (int32_t j = 0; j < n; ++j) {
      int64_t acc = bias.empty() ? 0 : bias[j];
      for (int32_t t = 0; t < k; ++t) acc += int64_t{a[i * k + t]} * b[t * n + j];
      c[i * n + j] = acc;
    }
  return c;
}

TEST(KernelMatmul, ExactForEdgeSizesAndInt4Weights) {
  for (int32_t m : {1, 3, 17}) {
    for (int32_t k : {1, 15, 16, 33, 3072}) {
      for (int32_t n : {1, 8, 31}) {
        const auto a = random_ints(m * k, -255, 255, 1 + m);        // centered 8-bit activations
        const auto b = random_ints(k * n, -8, 7, 2 + k);             // int4 weights
        const auto bias = random_ints(n, -100000, 100000, 3 + n);
        std::vector<int32_t> c(m * n), ct(m * n), bt(n * k);
        for (int32_t t = 0; t < k; ++t)
          for (int32_t j = 0; j < n; ++j) bt[j * k + t] = b[t * n + j];
        TruncationStats stats;
        ref::matmul(a.data(), b.data(), bias.data(), c.data(), m, k, n, &stats);
        ref::matmul_bt(a.data(), bt.data(), bias.data(), ct.data(), m, k, n, &stats);
        const auto expect = ref_matmul(a, b, bias, m, k, n);
        for (int32_t i = 0; i < m * n; ++i) {
          ASSERT_EQ(c[i], expect[i]);
          ASSERT_EQ(ct[i], expect[i]);
        }
        EXPECT_EQ(stats.events, 0u);
        EXPECT_EQ(stats.elements, 2u * m * n);
        EXPECT_TRUE(fits_int32(matmul_bound(k, 255, 8, 100000)));
      }
    }
  }
}

TEST(KernelMatmul, AccumulatorOverflowIsSaturatedAndCounted) {
  const int32_t k = 70000;  // 70000 * 255 * 127 > 2^31
  std::vector<int32_t> a(k, 255), b(k, 127), a_neg(k, -255), c(2);
  std::vector<int32_t> aa = a;
  aa.insert(aa.end(), a_neg.begin(), a_neg.end());
  TruncationStats stats;
  ref::matmul(aa.data(), b.data(), nullptr, c.data(), 2, k, 1, &stats);
  EXPECT_EQ(c[0], kInt32Max);
  EXPECT_EQ(c[1], kInt32Min);
  EXPECT_EQ(stats.events, 2u);
  EXPECT_FALSE(fits_int32(matmul_bound(k, 255, 127, 0)));
}

TEST(KernelRequant, PerTensorAndPerChannelWithinHalfUnitPlusMultiplierError) {
  const int32_t bound = 768 * 255 * 127;
  const auto acc = random_ints(4 * 3, -bound, bound, 21);
  std::vector<int32_t> extremes = {bound, -bound, 0, 1, -1, bound / 2};
  std::vector<int32_t> in = acc;
  in.insert(in.end(), extremes.begin(), extremes.end());
  const std::vector<double> mult = {2.5e-5, 7.1e-6, 1.3e-4};
  std::vector<Requant> rq;
  for (double m : mult) rq.push_back(make_requant(m, bound));
  const ref::ClampRange range = ref::centered_range(8, 131);  // asymmetric uint8 with z = 131
  EXPECT_EQ(range.lo, -131);
  EXPECT_EQ(range.hi, 124);
  std::vector<int32_t> out(in.size());
  TruncationStats stats;
  ref::requantize_per_channel(in.data(), out.data(), static_cast<int32_t>(in.size()) / 3, 3, rq.data(), range, &stats);
  for (size_t i = 0; i < in.size(); ++i) {
    const double exact = std::clamp(in[i] * mult[i % 3], -131.0, 124.0);
    // |error| <= requant_error_bound (0.5 + pre-shift and multiplier terms, < 0.6 here)
    ASSERT_LE(std::fabs(out[i] - exact), requant_error_bound(rq[i % 3], mult[i % 3], bound)) << i;
  }
  ref::requantize(in.data(), out.data(), static_cast<int32_t>(in.size()), rq[0], range, &stats);
  for (size_t i = 0; i < in.size(); ++i)
    ASSERT_LE(std::fabs(out[i] - std::clamp(in[i] * mult[0], -131.0, 124.0)), 0.6);
  EXPECT_EQ(stats.events, 0u);
  // An input past the bound the Requant was made for overflows the product: counted.
  const Requant tight = make_requant(0.5, 1000);
  const int32_t too_big = kInt32Max;
  int32_t y = 0;
  ref::requantize(&too_big, &y, 1, tight, {}, &stats);
  EXPECT_EQ(stats.events, 1u);
}

TEST(KernelAdd, TwoScalesIntoOneWithBroadcastPositionEmbedding) {
  const int32_t batch = 3, tokens = 5, channels = 4;
  const auto a = random_ints(batch * tokens * channels, -128, 127, 31);
  auto b = random_ints(tokens * channels, -128, 127, 32);
  b[0] = -128;  // extremes of the input width
  b[1] = 127;
  const double sa = 0.05, sb = 0.013, s_out = 0.07;
  const int32_t extra = 8;  // fraction bits before the single final rounding
  ref::AddParams p;
  p.a = make_requant(sa / s_out * (1 << extra), 128);
  p.b = make_requant(sb / s_out * (1 << extra), 128);
  p.shift = extra;
  p.range = ref::centered_range(8, 128);
  std::vector<int32_t> out(a.size());
  TruncationStats stats;
  ref::add(a.data(), static_cast<int32_t>(a.size()), b.data(), static_cast<int32_t>(b.size()), out.data(), p, &stats);
  for (size_t i = 0; i < a.size(); ++i) {
    const double exact = std::clamp((a[i] * sa + b[i % b.size()] * sb) / s_out, -128.0, 127.0);
    // one final rounding (1/2) plus two operand roundings of 2^-9 each
    ASSERT_LE(std::fabs(out[i] - exact), 0.5 + 2.0 / 512 + 1e-6) << i;
  }
  EXPECT_EQ(stats.events, 0u);
  EXPECT_TRUE(fits_int32(add_bound(p, 128, 128)));
}

}  // namespace
}  // namespace qvit::kernels
