#pragma once
// Integer matrix multiply, the core of every linear op (I-ViT Sec. 3.2, DESIGN.md "Linear ops"):
//   C[m,n] = bias[n] + sum_k A[m,k] * B[k,n]     (int32 accumulate)
// A holds centered activations (q - z, so |a| <= 2^8 - 1 for 8-bit asymmetric), B symmetric weights
// (int4 weights are just values in [-8, 7]); both stored as int32. Row-major, no padding.
// The int32 accumulator fits whenever K * max|a| * max|b| + max|bias| < 2^31 (kernel_bounds.h);
// otherwise the sum saturates and the element counts as one truncation.
#include <cstdint>

#include "kernels/truncation.h"

namespace qvit::kernels::ref {

// A [m,k], B [k,n], bias [n] or null, C [m,n].
void matmul(const int32_t* a, const int32_t* b, const int32_t* bias, int32_t* c, int32_t m, int32_t k, int32_t n,
            TruncationStats* stats);

// Same with B given transposed: bt [n,k] (weights as stored by a Linear layer, or K for Q*K^T).
void matmul_bt(const int32_t* a, const int32_t* bt, const int32_t* bias, int32_t* c, int32_t m, int32_t k, int32_t n,
               TruncationStats* stats);

}  // namespace qvit::kernels::ref
