#pragma once
// Lowering-time helpers (floats allowed: nothing here runs inside a kernel) that turn a real
// multiplier into the integers the kernels use (int_math.h: Requant, requant()).
//
// Dyadic decomposition. A positive real M is written M ~ m0 * 2^-shift with m0 < 2^max_m0_bits.
// With M = f * 2^e, f in [0.5, 1) (frexp), m0 = round(f * 2^max_m0_bits), shift = max_m0_bits - e;
// if rounding gives m0 = 2^max_m0_bits, halve it and decrement shift. Relative error of the
// multiplier <= 2^-max_m0_bits (half an ulp of an m0 whose top bit is set).
//
// Requantization without 64-bit products. The kernel computes
//   y = rshift_round(rshift_round(x, p) * m0, s)
// for |x| <= B. After the pre-shift |x'| <= B_p = round(B / 2^p), so the product never overflows
// iff B_p * m0 <= 2^31 - 1, i.e. m0 <= floor((2^31-1) / B_p). For a given p the best multiplier is
// M * 2^p written with the largest m0 under that cap (largest s). Worst-case error of y in output
// units, before the final rounding (which adds 1/2):
//   e(p) = [p > 0] * M * 2^p / 2          (rounding x to x', times the multiplier)
//        + B_p * |m0 * 2^-s - M * 2^p|    (multiplier error, at the largest x')
// Without a pre-shift m0 has only about 31 - bits(B) bits; each pre-shift bit costs one bit of x
// and buys one bit of m0. make_requant evaluates e(p) for p = 0..30 and takes the minimum, the
// smallest p among (near-)ties, so p = 0 whenever the bound leaves m0 enough bits.
// Requirement: M * B < 2^31 (otherwise the exact result itself does not fit int32).
#include <cstdint>

#include "kernels/int_math.h"

namespace qvit::kernels {

struct Dyadic {
  int32_t m0 = 0;     // 0 < m0 < 2^max_m0_bits (0 only for M = 0)
  int32_t shift = 0;  // >= 0: M ~ m0 * 2^-shift
};

// M >= 0, 1 <= max_m0_bits <= 31. Throws qvit::Error when M >= 2^(max_m0_bits) (would need a left
// shift) or M is not finite. Tiny M: shift is capped at 62 (m0 shrinks, may become 0 = "times 0").
Dyadic decompose_multiplier(double multiplier, int32_t max_m0_bits = 31);

// The Requant for y ~ x * M with |x| <= input_bound that never overflows and has the smallest
// worst-case error (see above). M >= 0. Throws qvit::Error if M * input_bound >= 2^31.
Requant make_requant(double multiplier, int32_t input_bound);

// The real multiplier a Requant applies: m0 * 2^-(pre_shift + post_shift).
double requant_multiplier(const Requant& rq);

// Worst-case |y - x*M| over |x| <= input_bound, in output units, including the final rounding.
double requant_error_bound(const Requant& rq, double multiplier, int32_t input_bound);

}  // namespace qvit::kernels
