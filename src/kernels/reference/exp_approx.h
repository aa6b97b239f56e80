#pragma once
// Elementwise integer approximations of exp and erf shared by the softmax and GELU kernels.
// int32 only; every step that can leave int32 saturates and sets `lost`.
#include <cstdint>

#include "kernels/int_math.h"

namespace qvit::kernels::ref {

// ---- I-ViT shift exponential (Li & Gu, ICCV'23, Sec. 3.3 "Shiftmax"; DESIGN.md restatement) ----
// For an input I <= 0 with scale S (x = I*S):
//   e^x = 2^(x log2 e),  log2 e ~ 1.0111b:  Ip = I + (I>>1) - (I>>4)
//   I0 = floor(-1/S) (the integer for -1.0), Ip = max(Ip, n*I0)
//   q = floor(Ip/I0) (integer part of -x log2 e), r = Ip - q*I0 in (I0, 0] (fraction, in units of -I0)
//   2^(-r/I0) ~ 1 + r/(2|I0|)  (linear)  ->  E = ((r>>1) - I0) << (n - q)
// E ~ e^x * |I0| * 2^n, i.e. E has scale ~ S / 2^n; E <= |I0| * 2^n and E >= 1.
struct ShiftExpParams {
  int32_t i0 = -1;  // floor(-1/S), in [-2^30, -1]
  int32_t n = 15;   // fraction bits kept (I-ViT: 15 for softmax, 23 for GELU; the M* of MLSys'23)
};

// Throws qvit::Error when i0 / n are out of range (n*I0 must fit int32).
void validate(const ShiftExpParams& p);

// Right shift s applied to shift-exp values before they are summed and normalized
// (softmax_common.h: F = floor((2^31-1) / sum(E >> s)), P = (E >> s) * F).
// Two needs: the sum must fit int32, and F must keep precision (I-ViT normalizes the unshifted E, so
// F = floor(2^31 / sum E) can be as small as ~20 on a uniform row of 197: a 4% error). With
// e = min(31, bits(|I0|) + n) (every E < 2^e) and L = ceil_log2(terms), s = max(0, e - (31-L)/2)
// leaves the largest E' = E >> s about (31-L)/2 bits and F at least about as many:
// sum E' < 2^(L + (31-L)/2) <= 2^31, F >= 2^((31-L)/2 - 1). Exps below 2^s of the row's largest
// one become 0 (the price of the int32 sum; counted if the output then rounds to 0).
constexpr int32_t shift_exp_sum_shift(const ShiftExpParams& p, int32_t terms) {
  const int32_t e_bits = bit_length(-p.i0) + p.n;
  const int32_t s = (e_bits < 31 ? e_bits : 31) - (31 - ceil_log2(terms)) / 2;
  return s > 0 ? s : 0;
}

inline int32_t shift_exp(int32_t i, const ShiftExpParams& p, bool& lost) {
  const Checked32 a = sat_add(i, i >> 1);
  const Checked32 ip = sat_sub(a.value, i >> 4);
  lost = lost || a.lost || ip.lost;
  const int32_t floor_ip = p.n * p.i0;  // validated to fit
  const int32_t clipped = ip.value < floor_ip ? floor_ip : ip.value;
  const int32_t q = clipped / p.i0;  // both <= 0: truncation is floor; q in [0, n]
  const int32_t r = clipped - q * p.i0;
  const Checked32 e = sat_shl((r >> 1) - p.i0, p.n - q);
  lost = lost || e.lost;
  return e.value;
}

// ---- I-BERT i-exp (Kim et al., ICML'21, Alg. 2; arXiv 2101.01321 eq. 8-10) ----
// x = -z ln2 + p, p in (-ln2, 0]; exp(p) ~ 0.3585 (p + 1.353)^2 + 0.344; exp(x) = exp(p) >> z.
// On integers with scale S: ln2_q = round(ln2/S), b_q = round(1.353/S), c_q = round(0.344/(0.3585 S^2)):
//   I = max(I, -z_max*ln2_q); z = floor(-I/ln2_q); p = I + z*ln2_q; e = ((p+b_q)^2 + c_q) >> z
// Output scale 0.3585 S^2; e(0) = b_q^2 + c_q ~ 2.79/S^2 (fits int32 only for S > ~2^-14.7).
struct IExpParams {
  int32_t ln2 = 1;     // round(ln2 / S) >= 1
  int32_t b = 1;       // round(1.353 / S)
  int32_t c = 0;       // round(0.344 / (0.3585 S^2))
  int32_t z_max = 30;  // inputs below -z_max*ln2 give exp(-z_max*ln2), as I-BERT's clamp
};

void validate(const IExpParams& p);

inline int32_t ibert_exp(int32_t i, const IExpParams& p, bool& lost) {
  const int32_t floor_i = -p.z_max * p.ln2;  // validated to fit
  const int32_t clipped = i < floor_i ? floor_i : i;
  const int32_t z = (-clipped) / p.ln2;
  const int32_t frac = clipped + z * p.ln2;  // in (-ln2, 0]
  const int32_t t = frac + p.b;
  const Checked32 sq = sat_mul(t, t);
  const Checked32 poly = sat_add(sq.value, p.c);
  lost = lost || sq.lost || poly.lost;
  return rshift_floor(poly.value, z);
}

// ---- I-BERT i-erf (arXiv 2101.01321 eq. 14-15) ----
// erf(x) ~ sgn(x) [a (min(|x|, -b) + b)^2 + 1], a = -0.2888, b = -1.769, written with a positive
// scale: erf(x) ~ sgn(x) |a| [1/|a| - (min(|x|, B) - B)^2], B = -b. On integers with scale Se:
//   clip = round(B/Se), one = round(1/(|a| Se^2)): erf_q = sgn(q) (one - (min(|q|,clip) - clip)^2)
// then >> shift (I-BERT's "avoid overflow" shift, here rounding). Output scale |a| Se^2 2^shift.
struct IErfParams {
  int32_t clip = 1;   // round(1.769 / Se)
  int32_t one = 1;    // round(1 / (0.2888 Se^2))
  int32_t shift = 0;  // right shift of the result
};

inline int32_t ibert_erf(int32_t q, const IErfParams& p, bool& lost) {
  const uint32_t mag = magnitude(q);
  const int32_t m = mag >= static_cast<uint32_t>(p.clip) ? p.clip : static_cast<int32_t>(mag);
  const int32_t t = m - p.clip;  // in [-clip, 0]
  const Checked32 sq = sat_mul(t, t);
  const Checked32 v = sat_sub(p.one, sq.value);
  lost = lost || sq.lost || v.lost;
  const int32_t shifted = rshift_round(v.value, p.shift);
  return q < 0 ? -shifted : (q == 0 ? 0 : shifted);
}

}  // namespace qvit::kernels::ref
