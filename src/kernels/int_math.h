#pragma once
// The integer arithmetic of qvit's integer-only runtime: the ONE place for rounding shifts,
// saturating operations, rounded division, integer sqrt and the dyadic requantization step.
// Everything here is int32 (uint32 only as the magnitude of an int32, to avoid the one value,
// INT32_MIN, whose negation overflows). No float, no 64-bit integer: these helpers run inside the
// reference kernels, which are the definition of correct for the integer runtime.
// Derivations and error bounds: docs/integer_math.md.
#include <bit>
#include <cmath>
#include <cstdint>

namespace qvit::kernels {

inline constexpr int32_t kInt32Max = 2147483647;
inline constexpr int32_t kInt32Min = -kInt32Max - 1;

// Result of an operation that may not fit int32: the value (saturated when it did not fit) and
// whether information was lost. Kernels turn `lost` into a truncation event (truncation.h).
struct Checked32 {
  int32_t value;
  bool lost;
};

// |x| as uint32: exact for every int32, including INT32_MIN (2^31).
constexpr uint32_t magnitude(int32_t x) { return x < 0 ? 0u - static_cast<uint32_t>(x) : static_cast<uint32_t>(x); }

// Number of bits needed to write v >= 0 (0 for 0, 1 for 1, 31 for INT32_MAX).
constexpr int32_t bit_length(int32_t v) { return v <= 0 ? 0 : static_cast<int32_t>(std::bit_width(static_cast<uint32_t>(v))); }

// Smallest k with 2^k >= n, for n >= 1 (0 for n = 1).
constexpr int32_t ceil_log2(int32_t n) { return n <= 1 ? 0 : bit_length(n - 1); }

constexpr int32_t clamp(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

// x / 2^shift rounded to nearest, ties away from zero (round(2.5) = 3, round(-2.5) = -3), so the
// rounding is symmetric around 0 and centered integers of either sign get the same treatment.
// Computed on the magnitude: m >> s plus the bit just below the cut (the "half" bit).
// shift 0 returns x; shift >= 32 returns 0 except INT32_MIN >> 32 = -0.5 -> -1 (the only tie).
constexpr int32_t rshift_round(int32_t x, int32_t shift) {
  if (shift <= 0) return x;
  const uint32_t m = magnitude(x);
  uint32_t r;
  if (shift >= 32) {
    r = (shift == 32 && m == 0x80000000u) ? 1u : 0u;
  } else {
    r = (m >> shift) + ((m >> (shift - 1)) & 1u);  // at most 2^30 + 1: fits int32
  }
  return x < 0 ? -static_cast<int32_t>(r) : static_cast<int32_t>(r);
}

// floor(x / 2^shift) (the arithmetic shift), defined for every shift >= 0.
constexpr int32_t rshift_floor(int32_t x, int32_t shift) {
  if (shift <= 0) return x;
  if (shift >= 31) return x < 0 ? -1 : 0;
  return x >> shift;
}

// x * 2^shift, saturated to int32 when it does not fit (lost = true). shift >= 0.
constexpr Checked32 sat_shl(int32_t x, int32_t shift) {
  if (shift <= 0 || x == 0) return {x, false};
  if (shift >= 32) return {x < 0 ? kInt32Min : kInt32Max, true};
  // x fits after the shift iff it lies in [INT32_MIN >> s, INT32_MAX >> s].
  if (x > (kInt32Max >> shift)) return {kInt32Max, true};
  if (x < (kInt32Min >> shift)) return {kInt32Min, true};
  return {static_cast<int32_t>(static_cast<uint32_t>(x) << shift), false};
}

constexpr Checked32 sat_add(int32_t a, int32_t b) {
  int32_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return {a < 0 ? kInt32Min : kInt32Max, true};
  return {r, false};
}

constexpr Checked32 sat_sub(int32_t a, int32_t b) {
  int32_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return {a < 0 ? kInt32Min : kInt32Max, true};
  return {r, false};
}

constexpr Checked32 sat_mul(int32_t a, int32_t b) {
  int32_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return {((a < 0) != (b < 0)) ? kInt32Min : kInt32Max, true};
  return {r, false};
}

// num / den rounded to nearest, ties away from zero; den > 0. lost = a nonzero numerator gave 0
// (the "division truncation" of the MLSys'23 int32 kernels paper).
// Rounds up in magnitude when the remainder is at least half the divisor: |r| >= den - |r|
// (written so that 2|r| is never formed).
constexpr Checked32 div_round(int32_t num, int32_t den) {
  int32_t q = num / den;  // INT32_MIN / 1 is the only quotient that could overflow: den > 0 rules -1 out
  const int32_t r = num % den;
  const int32_t ar = r < 0 ? -r : r;
  if (ar >= den - ar) q += (num < 0 ? -1 : 1);
  return {q, num != 0 && q == 0};
}

// floor(sqrt(v)) for v >= 0 by Newton's iteration x <- (x + floor(v/x)) / 2 (I-ViT, I-LayerNorm),
// started above the root at 2^ceil(bits(v)/2) and run a fixed 10 steps (data-independent cost).
// From above, the integer iteration never drops below floor(sqrt(v)); taking the min with the
// previous iterate stops the 2-cycle s <-> s+1 that plain integer Newton has when v+1 is a square.
// The start is within a factor 2 of the root, so 5 steps already converge for v < 2^31.
constexpr int32_t isqrt_newton(int32_t v) {
  if (v <= 0) return 0;
  int32_t x = static_cast<int32_t>(1) << ((bit_length(v) + 1) / 2);  // <= 2^16
  for (int32_t step = 0; step < 10; ++step) {
    const int32_t next = (x + v / x) / 2;  // x + v/x <= 2^16 + 2^15: no overflow
    x = next < x ? next : x;
  }
  return x;
}

// The same floor(sqrt(v)) in one instruction for the optimized kernels (isqrt_newton's ten
// dependent divisions cost more than a short row's vector passes): the double square root is
// correctly rounded, so truncating it is floor(sqrt(v)) for every v < 2^52; equal to isqrt_newton
// for all v in [0, 2^31) (tests/unit/int_math_test.cc, and once over every int32).
inline int32_t isqrt_floor(int32_t v) { return v <= 0 ? 0 : static_cast<int32_t>(std::sqrt(static_cast<double>(v))); }

// The dyadic requantization step of every linear op (I-ViT eq. for dyadic arithmetic, TFLite's
// MultiplyByQuantizedMultiplier without the 64-bit product):
//   y = rshift_round(rshift_round(x, pre_shift) * m0, post_shift)  ~  x * m0 * 2^-(pre+post)
// The pre-shift exists so that |x| * m0 stays below 2^31 for the known bound on |x|; it is chosen
// at lowering time by make_requant (dyadic.h), which documents the derivation.
struct Requant {
  int32_t pre_shift = 0;
  int32_t m0 = 1;
  int32_t post_shift = 0;
};

constexpr Checked32 requant(int32_t x, const Requant& rq) {
  const Checked32 p = sat_mul(rshift_round(x, rq.pre_shift), rq.m0);
  return {rshift_round(p.value, rq.post_shift), p.lost};
}

}  // namespace qvit::kernels
