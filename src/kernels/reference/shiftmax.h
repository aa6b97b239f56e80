#pragma once
// Shiftmax (I-ViT, Li & Gu ICCV'23, Sec. 3.3; DESIGN.md restatement), row-wise over the last axis,
// int32-honest. For a row of centered ints I with scale S:
//   I <- I - max(I);  E_j = shift_exp(I_j)   (exp_approx.h: E ~ e^(I S) |I0| 2^n, E <= |I0| 2^n)
//   then softmax_common.h: P = (E >> s) * floor((2^31-1) / sum(E >> s)), out = P >> (31 - b + 1).
// I-ViT sums E in float and clamps the sum to 2^31 - 1; here the shift s is chosen from the row
// length so the sum cannot overflow AND F keeps as many bits as the largest E' (exp_approx.h):
//   s = shift_exp_sum_shift(exp, cols) = max(0, min(31, bits(|I0|) + n) - (31 - ceil_log2(cols)) / 2)
// Output: uniform b bits with scale 2^-(b-1) (unsigned, in [0, 2^(b-1) - 1]), or log2 codes.
#include <cstdint>

#include "kernels/reference/exp_approx.h"
#include "kernels/reference/softmax_common.h"
#include "kernels/truncation.h"

namespace qvit::kernels::ref {

struct ShiftmaxParams {
  ShiftExpParams exp;  // i0 = floor(-1/S), n
  ProbOutput output;
};

// in/out [rows, cols].
void shiftmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ShiftmaxParams& p,
              TruncationStats* stats);

}  // namespace qvit::kernels::ref
