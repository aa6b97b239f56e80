#pragma once
// I-BERT polynomial kernels (Kim et al., ICML'21, arXiv 2101.01321), evaluated in int32 as
// published: no overflow guards beyond saturation. On small input scales or long rows they DO
// leave int32 (MLSys'23 Table 1 measures exactly that); every such element is counted as a
// truncation and saturated. The int32-safe forms (int32safe_softmax.h, and ibert_gelu with
// make_int32safe_gelu_params) choose their inputs so that this never happens.
//
// Softmax: e_j = i-exp(x_j - max x) (exp_approx.h, scale 0.3585 S^2), then the normalization of
// softmax_common.h with sum shift 0 (the sum saturates when cols * e(0) >= 2^31).
// GELU: GELU(x) = x (1 + erf(x / sqrt2)) / 2 with i-erf at scale Se = S / sqrt2 (exp_approx.h):
//   out = q * (erf_q + one_k), one_k = round(1 / (|a| Se^2 2^k)),  scale S |a| Se^2 2^k / 2
// where k = erf.shift; out is int32 for the caller to requantize. |out| <= |q| * 2 * one_k.
#include <cstdint>

#include "kernels/reference/exp_approx.h"
#include "kernels/reference/softmax_common.h"
#include "kernels/truncation.h"

namespace qvit::kernels::ref {

struct IBertSoftmaxParams {
  IExpParams exp;
  ProbOutput output;
};

struct IBertGeluParams {
  IErfParams erf;
  int32_t one_shifted = 1;  // one_k = round(1 / (|a| Se^2 2^erf.shift))
};

// in/out [rows, cols].
void ibert_softmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const IBertSoftmaxParams& p,
                   TruncationStats* stats);

void ibert_gelu(const int32_t* in, int32_t* out, int32_t count, const IBertGeluParams& p, TruncationStats* stats);

}  // namespace qvit::kernels::ref
