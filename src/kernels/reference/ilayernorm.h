#pragma once
// I-LayerNorm (I-ViT Sec. 3.5; MLSys'23 "LayerNorm" int32 form), per row of C channels of centered
// b-bit inputs x (|x| <= 2^b - 1, so |x - mean| < 2^b):
//   mean = round(sum x / C)                                   (sum < C 2^b: fits for C 2^b < 2^31)
//   d = x - mean;  d_t = round(d / 2^t)  with  t = ilayernorm_var_shift(C, b)
//   V = sum d_t^2 + var_eps,  std = max(1, isqrt_newton(V))   (10 Newton steps)
//   norm = round((d << M) / std)                              (M = 15 in the int32-safe form)
//   out_c = clamp(requant(norm * g_c + h_c, rq_c), lo, hi)
// t is the smallest shift with C (2^(b-t))^2 <= 2^30, so V never overflows (t = 0 for b = 8 up to
// C = 16384). d << M needs b + M <= 31.
// Scale of norm: s_norm = sqrt(C) 2^-(M+t), i.e. (x - mu)/sigma ~ norm * sqrt(C) * 2^-(M+t)
// (std ~ sqrt(C) sigma 2^-t in input units). var_eps = round(C eps / (S^2 4^t)) carries LayerNorm's
// eps. |norm| <= 2^M when t = 0 (std >= |d_t| = |d|), and < 1.5 2^(M+t) + 1 in general.
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

// t: smallest shift with ceil_log2(C) + 2 (b - t) <= 30.
constexpr int32_t ilayernorm_var_shift(int32_t channels, int32_t input_bits) {
  const int32_t excess = ceil_log2(channels) + 2 * input_bits - 30;
  return excess > 0 ? (excess + 1) / 2 : 0;
}

// in/out [rows, C]; C = p.gamma.size().
void ilayernorm(const int32_t* in, int32_t* out, int32_t rows, const ILayerNormParams& p, TruncationStats* stats);

}  // namespace qvit::kernels::ref
