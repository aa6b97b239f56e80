// Tests of the integer helpers against exact 64-bit / long double references (tests may use wide
// types; the kernels may not).
#include "kernels/int_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace qvit::kernels {
namespace {

// Exact round-half-away-from-zero of x / 2^s.
int64_t ref_rshift_round(int64_t x, int s) {
  if (s == 0) return x;
  const long double q = std::ldexp(static_cast<long double>(x), -s);
  return static_cast<int64_t>(std::round(q));  // std::round: halves away from zero
}

std::vector<int32_t> interesting_values() {
  std::vector<int32_t> v = {0, 1, -1, 2, -2, 3, -3, 5, -5, 6, -6, 7, -7, 127, -128, 255, -255,
                            kInt32Max, kInt32Min, kInt32Max - 1, kInt32Min + 1, 1 << 30, -(1 << 30)};
  for (int s = 1; s < 31; ++s) {
    const int32_t p = 1 << s;
    for (int32_t d : {-1, 0, 1}) {
      v.push_back(p + d);
      v.push_back(-p + d);
      v.push_back(p / 2 * 3 + d);
      v.push_back(-(p / 2 * 3) + d);
    }
  }
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> any(kInt32Min, kInt32Max);
  for (int i = 0; i < 2000; ++i) v.push_back(any(rng));
  return v;
}

TEST(IntMath, RshiftRoundIsHalfAwayFromZeroForAllSignsAndShifts) {
  EXPECT_EQ(rshift_round(5, 1), 3);    // 2.5 -> 3
  EXPECT_EQ(rshift_round(-5, 1), -3);  // -2.5 -> -3
  EXPECT_EQ(rshift_round(-6, 2), -2);  // -1.5 -> -2
  EXPECT_EQ(rshift_round(-5, 2), -1);  // -1.25 -> -1
  EXPECT_EQ(rshift_round(7, 0), 7);
  EXPECT_EQ(rshift_round(kInt32Min, 31), -1);
  EXPECT_EQ(rshift_round(kInt32Min, 32), -1);  // -0.5: the one tie at shift 32
  EXPECT_EQ(rshift_round(kInt32Max, 32), 0);
  EXPECT_EQ(rshift_round(kInt32Min, 40), 0);
  for (int32_t x : interesting_values()) {
    for (int s = 0; s <= 40; ++s) {
      ASSERT_EQ(rshift_round(x, s), ref_rshift_round(x, s)) << "x=" << x << " s=" << s;
    }
  }
}

TEST(IntMath, RshiftFloorMatchesFloorDivision) {
  for (int32_t x : interesting_values()) {
    for (int s = 0; s <= 40; ++s) {
      const auto expect = static_cast<int64_t>(std::floor(std::ldexp(static_cast<long double>(x), -s)));
      ASSERT_EQ(rshift_floor(x, s), expect) << "x=" << x << " s=" << s;
    }
  }
}

TEST(IntMath, SaturatingShiftAddMulReportLoss) {
  for (int32_t x : interesting_values()) {
    for (int s = 0; s <= 33; ++s) {
      const long double exact = std::ldexp(static_cast<long double>(x), s);
      const Checked32 r = sat_shl(x, s);
      const bool fits = exact >= kInt32Min && exact <= kInt32Max;
      ASSERT_EQ(r.lost, !fits) << x << " << " << s;
      if (fits) ASSERT_EQ(r.value, static_cast<int64_t>(exact));
      else ASSERT_EQ(r.value, x < 0 ? kInt32Min : kInt32Max);
    }
  }
  const std::vector<int32_t> vals = interesting_values();
  for (size_t i = 0; i + 1 < vals.size(); i += 3) {
    const int64_t a = vals[i], b = vals[i + 1];
    const auto check = [](Checked32 r, int64_t exact) {
      const bool fits = exact >= kInt32Min && exact <= kInt32Max;
      ASSERT_EQ(r.lost, !fits);
      ASSERT_EQ(r.value, fits ? exact : (exact < 0 ? kInt32Min : kInt32Max));
    };
    check(sat_add(static_cast<int32_t>(a), static_cast<int32_t>(b)), a + b);
    check(sat_sub(static_cast<int32_t>(a), static_cast<int32_t>(b)), a - b);
    check(sat_mul(static_cast<int32_t>(a), static_cast<int32_t>(b)), a * b);
  }
  EXPECT_EQ(clamp(5, -3, 4), 4);
  EXPECT_EQ(clamp(-5, -3, 4), -3);
  EXPECT_EQ(clamp(1, -3, 4), 1);
}

TEST(IntMath, DivRoundHalfAwayAndReportsZeroFromNonzero) {
  EXPECT_EQ(div_round(5, 2).value, 3);
  EXPECT_EQ(div_round(-5, 2).value, -3);
  EXPECT_EQ(div_round(1, 3).value, 0);
  EXPECT_TRUE(div_round(1, 3).lost);
  EXPECT_FALSE(div_round(0, 3).lost);
  EXPECT_FALSE(div_round(2, 3).lost);  // 0.67 -> 1
  EXPECT_EQ(div_round(kInt32Min, 1).value, kInt32Min);
  EXPECT_EQ(div_round(kInt32Min, kInt32Max).value, -1);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> any(kInt32Min, kInt32Max);
  std::uniform_int_distribution<int32_t> den(1, kInt32Max);
  for (int i = 0; i < 20000; ++i) {
    const int32_t n = any(rng);
    const int32_t d = i % 2 ? den(rng) : (den(rng) % 1000) + 1;
    const long double exact = static_cast<long double>(n) / d;
    const int64_t expect = static_cast<int64_t>(std::round(exact));
    ASSERT_EQ(div_round(n, d).value, expect) << n << "/" << d;
    ASSERT_EQ(div_round(n, d).lost, n != 0 && expect == 0);
  }
}

int64_t exact_isqrt(int64_t v) {
  int64_t r = static_cast<int64_t>(std::sqrt(static_cast<double>(v)));
  while (r * r > v) --r;
  while ((r + 1) * (r + 1) <= v) ++r;
  return r;
}

TEST(IntMath, NewtonSqrtIsFloorSqrtOverInt32) {
  EXPECT_EQ(isqrt_newton(0), 0);
  EXPECT_EQ(isqrt_newton(1), 1);
  EXPECT_EQ(isqrt_newton(3), 1);
  EXPECT_EQ(isqrt_newton(kInt32Max), 46340);
  // every v below 2^20, then every perfect square +-1 up to 2^31 - 1, then a random sample.
  for (int32_t v = 0; v < (1 << 20); ++v) {
    ASSERT_EQ(isqrt_newton(v), exact_isqrt(v)) << v;
    ASSERT_EQ(isqrt_floor(v), exact_isqrt(v)) << v;
  }
  for (int64_t r = 1; r * r <= kInt32Max; ++r) {
    for (int64_t v : {r * r - 1, r * r, r * r + 1}) {
      if (v > kInt32Max) continue;
      ASSERT_EQ(isqrt_newton(static_cast<int32_t>(v)), exact_isqrt(v)) << v;
      ASSERT_EQ(isqrt_floor(static_cast<int32_t>(v)), exact_isqrt(v)) << v;
    }
  }
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> pos(0, kInt32Max);
  for (int i = 0; i < 200000; ++i) {
    const int32_t v = pos(rng);
    ASSERT_EQ(isqrt_newton(v), exact_isqrt(v)) << v;
    ASSERT_EQ(isqrt_floor(v), exact_isqrt(v)) << v;
  }
  EXPECT_EQ(isqrt_floor(kInt32Max), 46340);
  EXPECT_EQ(isqrt_floor(-5), isqrt_newton(-5));
}

TEST(IntMath, BitLengthAndCeilLog2) {
  EXPECT_EQ(bit_length(0), 0);
  EXPECT_EQ(bit_length(1), 1);
  EXPECT_EQ(bit_length(255), 8);
  EXPECT_EQ(bit_length(256), 9);
  EXPECT_EQ(bit_length(kInt32Max), 31);
  EXPECT_EQ(ceil_log2(1), 0);
  EXPECT_EQ(ceil_log2(2), 1);
  EXPECT_EQ(ceil_log2(197), 8);
  EXPECT_EQ(ceil_log2(256), 8);
  EXPECT_EQ(ceil_log2(3072), 12);
  static_assert(rshift_round(-3, 1) == -2 && isqrt_newton(99) == 9, "usable in constant expressions");
}

TEST(IntMath, RequantIsTwoRoundingShiftsAroundAProduct) {
  const Requant rq{2, 3, 4};  // x * 3 / 64
  EXPECT_EQ(requant(100, rq).value, rshift_round(rshift_round(100, 2) * 3, 4));
  EXPECT_FALSE(requant(100, rq).lost);
  EXPECT_TRUE(requant(kInt32Max, Requant{0, 2, 0}).lost);
}

}  // namespace
}  // namespace qvit::kernels
