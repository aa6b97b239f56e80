#pragma once
// int32-safe softmax (Zhang, He, Zhang, MLSys'23 "Practical Edge Kernels for Integer-Only ViTs under
// PTQ", Sec. "Softmax": requantize to 32 - M* bits, then shift left by M*).
//
// The lowering requantizes the softmax input to a scale S chosen from M* (kernel_params.h) so that
// the i-exp polynomial (exp_approx.h) of the row-max-centered input stays below 2^(31 - M*):
//   e_max = b_q^2 + c_q ~ 2.79 / S^2 < 2^(31 - M*).
// Then the exp values can be shifted left by M* without leaving int32, and one rounded division
// normalizes them:
//   s = max(0, ceil_log2(cols) + bits(e_max) - 31)       (keeps the denominator in int32)
//   D = sum_j (e_j >> s),  out_j = round((e_j << (M* - s)) / D)     (>> (s - M*) if s > M*)
// out_j ~ p_j 2^M*: int32 probabilities with scale 2^-M*, in [0, 2^M*]. The caller requantizes
// them (uniform) or turns them into log2 codes (probs_to_log2_codes with frac_bits = M*).
// M* trades the two truncations of the paper's Fig. 2: too small and small probabilities divide to
// 0, too large and the input scale S gets coarse. With M* chosen by calibration, typical rows have
// zero truncations; an element counts when anything saturated or when e_j != 0 gave out_j = 0.
#include <cstdint>

#include "kernels/reference/exp_approx.h"
#include "kernels/truncation.h"

namespace qvit::kernels::ref {

struct Int32SafeSoftmaxParams {
  IExpParams exp;      // i-exp constants at the (requantized) input scale S
  int32_t m_star = 16; // M*, in [1, 30]
};

// in/out [rows, cols]; out at scale 2^-M*.
void int32safe_softmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const Int32SafeSoftmaxParams& p,
                       TruncationStats* stats);

}  // namespace qvit::kernels::ref
