#include "kernels/dyadic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>

#include "util/error.h"

namespace qvit::kernels {
namespace {

TEST(Dyadic, DecomposeIsWithinHalfUlpOfM0) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> log_m(-30.0, 20.0);
  for (int i = 0; i < 2000; ++i) {
    const double m = std::exp2(log_m(rng));
    for (int32_t bits : {8, 15, 16, 31}) {
      if (m >= std::ldexp(1.0, bits) - 1.0) {
        EXPECT_THROW(decompose_multiplier(m, bits), Error);
        continue;
      }
      const Dyadic d = decompose_multiplier(m, bits);
      ASSERT_GE(d.shift, 0);
      ASSERT_LT(d.m0, int64_t{1} << bits);
      ASSERT_GE(d.m0, int64_t{1} << (bits - 1)) << "full precision: top bit set";
      const double approx = std::ldexp(static_cast<double>(d.m0), -d.shift);
      ASSERT_LE(std::fabs(approx - m) / m, std::ldexp(1.0, -bits)) << m << " bits " << bits;
    }
  }
  EXPECT_EQ(decompose_multiplier(0.5, 31).m0, 1 << 30);
  EXPECT_EQ(decompose_multiplier(0.5, 31).shift, 31);
  EXPECT_THROW(decompose_multiplier(300.0, 8), Error);
  EXPECT_THROW(decompose_multiplier(-1.0), Error);
  EXPECT_THROW(decompose_multiplier(1.0, 32), Error);
}

// Applies the Requant in 64-bit arithmetic to see what the int32 kernel would need.
int64_t product_magnitude(int32_t x, const Requant& rq) {
  return std::llabs(static_cast<int64_t>(rshift_round(x, rq.pre_shift)) * rq.m0);
}

TEST(Dyadic, MakeRequantNeverOverflowsAndStaysWithinItsErrorBound) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> log_b(0.0, 31.0);
  std::uniform_real_distribution<double> frac(0.0, 1.0);
  for (int i = 0; i < 400; ++i) {
    const int32_t bound = static_cast<int32_t>(std::min(std::exp2(log_b(rng)), 2147483647.0));
    // multiplier such that M * bound spans outputs from 1 to 2^30
    const double m = std::exp2(std::log2(1.0 / bound) + frac(rng) * 30.0);
    if (m * bound >= 2147483647.0) continue;
    const Requant rq = make_requant(m, bound);
    const double err_bound = requant_error_bound(rq, m, bound);
    for (int32_t x : {bound, -bound, 0, 1, -1, bound / 2, -bound / 3, bound - 1}) {
      ASSERT_LE(product_magnitude(x, rq), 2147483647) << "m=" << m << " B=" << bound;
      const Checked32 y = requant(x, rq);
      ASSERT_FALSE(y.lost);
      ASSERT_LE(std::fabs(y.value - x * m), err_bound + 1e-9 * (1.0 + std::fabs(x * m))) << "m=" << m << " B=" << bound << " x=" << x;
    }
  }
}

TEST(Dyadic, PreShiftOnlyWhenTheBoundNeedsIt) {
  // 8-bit inputs: m0 can have 23 bits without a pre-shift, so none is used.
  const Requant small = make_requant(0.0123, 255);
  EXPECT_EQ(small.pre_shift, 0);
  EXPECT_LE(requant_error_bound(small, 0.0123, 255), 0.5 + 1e-5);
  // 24-bit accumulators (K=768, 8x8 bits): without a pre-shift m0 would have ~7 bits.
  const int32_t acc_bound = 768 * 255 * 127;
  const Requant big = make_requant(3.1e-4, acc_bound);
  EXPECT_GT(big.pre_shift, 0);
  // worst case over |x| <= B: final rounding 1/2 plus ~0.1 from the pre-shift and the m0 bits
  EXPECT_LE(requant_error_bound(big, 3.1e-4, acc_bound), 0.65);
  EXPECT_LT(requant_error_bound(big, 3.1e-4, acc_bound),
            requant_error_bound(Requant{0, 81, 18}, 3.1e-4, acc_bound)) << "better than the best form without pre-shift";
  EXPECT_THROW(make_requant(2.0, 1 << 30), Error);
  const Requant zero = make_requant(0.0, 100);
  EXPECT_EQ(requant(77, zero).value, 0);
}

}  // namespace
}  // namespace qvit::kernels
