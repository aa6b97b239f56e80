#pragma once
// Attention with log2-coded probabilities (DESIGN.md "Softmax output"; LRP-QViT / RepQ-ViT log-sqrt2
// quantizer reparameterized to shifts).
//
// Code q in [0, 2^b - 1] means p = 2^(-q/2); the extra code 2^b means p = 0 exactly (the image of
// every p below 2^(-(2^b - 0.5)/2), including p = 0), so zero probabilities and the tail the codes
// cannot reach add nothing to attn*V. This is the calibration's log-√2 quantizer (QuantParams:
// a code past the last one dequantizes to 0): all 2^b codes stay real values, which matters at 4
// bits, where code 15 (2^-7.5 ≈ 0.0055) is about the mean attention weight over 197 tokens.
//
// attn*V as shifts and adds: out[i,c] = sum_j V[j,c] * 2^(-q_ij/2), kept with F fraction bits:
//   even q: (V << F) >> (q/2)                       = V * 2^F * 2^(-q/2)
//   odd q:  (V * c) >> ((q+1)/2),  c = round(sqrt2 * 2^F)  = V * 2^F * sqrt2 * 2^(-(q+1)/2)
// (>> is rshift_round). Output scale s_V * 2^-F (times the log quantizer's scale, 1 for softmax).
// Worst case |out| <= K * max|V| * c (every code 0): lowering picks F so that fits int32
// (kernel_bounds.h), otherwise sums saturate and count as truncations.
#include <cstdint>

#include "kernels/int_math.h"
#include "kernels/truncation.h"

namespace qvit::kernels::ref {

struct Log2MatmulParams {
  int32_t frac_bits = 8;    // F, in [0, 30]
  int32_t sqrt2 = 362;      // round(sqrt(2) * 2^F)  (362 for F = 8)
  int32_t code_bits = 4;    // b, in [1, 16]; code 2^b is zero
};

constexpr int32_t log2_zero_code(int32_t code_bits) { return static_cast<int32_t>(1) << code_bits; }

// Log-sqrt2 code of a probability p_int * 2^-frac_bits (p_int >= 0, frac_bits in [0, 31]):
// round(-2 log2 p), clamped to [0, 2^b], 2^b (zero) for p = 0 and past the last code. With L = floor(log2 p_int), p_int is
// normalized to m in [2^15, 2^16) (its 16 leading bits); -2 log2 p = 2(frac_bits - L) - 2 log2(m/2^15)
// and the rounding of 2 log2(m/2^15) in [0, 2) is decided by comparing m with the sqrt2 thresholds
// 2^15 * 2^(1/4) ~ 38967.94 and 2^15 * 2^(3/4) ~ 55108.99. Exact except when p lies within
// 2^-15 (relative) of a threshold, where the 16-bit truncation may pick the lower code.
constexpr int32_t prob_to_log2_code(int32_t p_int, int32_t frac_bits, int32_t code_bits) {
  const int32_t zero = log2_zero_code(code_bits);
  if (p_int <= 0) return zero;
  const int32_t lead = bit_length(p_int) - 1;
  const int32_t m = lead >= 15 ? (p_int >> (lead - 15)) : (p_int << (15 - lead));
  const int32_t twice_frac = m >= 55109 ? 2 : (m >= 38968 ? 1 : 0);
  const int32_t code = 2 * (frac_bits - lead) - twice_frac;
  return clamp(code, 0, zero);
}

// Elementwise prob_to_log2_code over count values.
void probs_to_log2_codes(const int32_t* p, int32_t* codes, int32_t count, int32_t frac_bits, int32_t code_bits);

// codes [m,k] (rows of attention probabilities), v [k,n] centered ints, out [m,n] at scale s_V*2^-F.
void log2_matmul(const int32_t* codes, const int32_t* v, int32_t* out, int32_t m, int32_t k, int32_t n,
                 const Log2MatmulParams& p, TruncationStats* stats);

}  // namespace qvit::kernels::ref
