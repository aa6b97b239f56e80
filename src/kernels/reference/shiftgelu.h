#pragma once
// ShiftGELU (I-ViT, Li & Gu ICCV'23, Sec. 3.4): GELU(x) ~ x * sigmoid(1.702 x), elementwise.
//   y = I + (I>>1) + (I>>3) + (I>>4)            (1.702 ~ 1 + 2^-1 + 2^-3 + 2^-4 = 1.6875)
//   sigmoid(y) = e^(y-m) / (e^(y-m) + e^(-m)),  m = max(y, 0)
// Both exponents are <= 0, so both go through shift_exp (exp_approx.h) and one of them is e^0.
// (I-ViT's code takes m = the row max instead, which leaves -m > 0 when the row max is negative;
// the per-element m keeps the shift-exp in its domain and makes the kernel elementwise.)
// Then, as Shiftmax's normalization with two terms and sum shift
//   s = shift_exp_sum_shift(exp, 2) = max(0, min(31, bits(|I0|) + n) - 15):
//   F = floor((2^31-1) / ((E1>>s) + (E2>>s))),  sig = ((E1>>s) * F) >> (31 - b + 1)   (scale 2^-(b-1))
//   out = I * sig, int32, scale S * 2^-(b-1): the caller requantizes it.
// Truncation events: saturation of y, the exponentials, or the final product.
#include <cstdint>

#include "kernels/reference/exp_approx.h"
#include "kernels/truncation.h"

namespace qvit::kernels::ref {

struct ShiftGeluParams {
  ShiftExpParams exp{-16, 23};  // i0 = floor(-1/S) of the GELU input scale S; I-ViT uses n = 23
  int32_t sigmoid_bits = 8;     // b in [2, 31]: sigmoid scale 2^-(b-1)
};

void shiftgelu(const int32_t* in, int32_t* out, int32_t count, const ShiftGeluParams& p, TruncationStats* stats);

}  // namespace qvit::kernels::ref
