#pragma once
// I-LayerNorm (I-ViT Sec. 3.5; MLSys'23 "LayerNorm" int32 form), per row of C channels of centered
// b-bit inputs x (|x| <= 2^b - 1, so |x - mean| < 2^b):
//   t = ilayernorm_var_shift(C, b, M), u = max(0, -t) fraction bits kept in x, the mean and d:
//   mean = round(sum (x << u) / C)                            (fits: C 2^(b+u) < 2^31)
//   d = (x << u) - mean;  d_t = round(d / 2^t) (t > 0) or d (t <= 0)
//   V = sum d_t^2 + var_eps,  std = max(1, isqrt_newton(V))   (10 Newton steps)
//   norm = round((d << M) / std)                              (M = 15 in the int32-safe form)
//   out_c = clamp(requant(norm * g_c + h_c, rq_c), lo, hi)
// t is the smallest shift — negative, i.e. extra fraction bits, for narrow inputs — with
// C (2^(b-t))^2 <= 2^30 (V never overflows) and b + M - t <= 31 (the shifted numerator fits). The
// fraction bits matter for low-bit inputs: with 4-bit codes and C = 64, std = isqrt(V) would be
// about 16 without them, a 1/16 relative step in every normalized value.
// Scale of norm: s_norm = sqrt(C) 2^-(M + max(t, 0)), i.e. (x - mu)/sigma ~ norm * s_norm
// (std ~ sqrt(C) sigma 2^-t in input units). var_eps = round(C eps / (S^2 4^t)) carries LayerNorm's
// eps. |norm| <= 2^M when t <= 0 (std >= |d_t|), and < 1.5 2^(M+t) + 1 in general.
// Per-channel affine: g_c, h_c, rq_c are made by make_ilayernorm_params (kernel_params.h) so that
//   rq_c multiplier * g_c = gamma_c s_norm / s_out,  rq_c multiplier * h_c = beta_c / s_out,
// with |norm * g_c| <= 2^30 and |h_c| <= 2^30 (so the sum fits int32), rq_c per channel (dyadic).
// Truncations: saturation anywhere, or a nonzero d whose norm rounds to 0 (MLSys'23's division).
#include <cstdint>
#include <vector>

#include "kernels/int_math.h"
#include "kernels/reference/requantize.h"
#include "kernels/truncation.h"

namespace qvit::kernels::ref {

struct ILayerNormParams {
  int32_t input_bits = 8;  // b: |x| <= 2^b - 1
  int32_t shift_m = 15;    // M, numerator shift; b + M <= 31
  int32_t var_eps = 0;     // added to sum d_t^2
  std::vector<int32_t> gamma;  // g_c [C]
  std::vector<int32_t> beta;   // h_c [C]
  std::vector<Requant> rq;     // rq_c [C]
  ClampRange range;
};

// t: smallest shift with ceil_log2(C) + 2 (b - t) <= 30 and b + M - t <= 31 (may be negative).
constexpr int32_t ilayernorm_var_shift(int32_t channels, int32_t input_bits, int32_t shift_m) {
  const int32_t excess = ceil_log2(channels) + 2 * input_bits - 30;
  const int32_t for_variance = excess > 0 ? (excess + 1) / 2 : -((-excess) / 2);
  const int32_t for_numerator = input_bits + shift_m - 31;
  return for_variance > for_numerator ? for_variance : for_numerator;
}

// in/out [rows, C]; C = p.gamma.size().
void ilayernorm(const int32_t* in, int32_t* out, int32_t rows, const ILayerNormParams& p, TruncationStats* stats);

}  // namespace qvit::kernels::ref
