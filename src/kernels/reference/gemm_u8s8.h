#pragma once
// The definition of the u8×s8→s32 GEMM (kernels/gemm_u8s8.h), a plain triple loop:
//   C[i, j] = col_offset[j] + (row_offset ? row_offset[i] : 0) + sum_k A[i, k] * B[k, j]
// A uint8 [m, k] (row stride lda), B int8 [k, n] row-major, C int32 [m, n] (row stride ldc).
// Sizes and strides are int32 like every reference kernel's (a·lda, t·n and i·ldc fit int32).
// col_offset and row_offset may be null (zeros). Precondition (the caller's bound, kernel_bounds.h):
// |offsets| + k * 255 * max|B| < 2^31, so no partial sum overflows int32.
#include <cstdint>

namespace qvit::kernels::ref {

void gemm_u8s8(const uint8_t* a, int32_t lda, int32_t m, const int8_t* b, int32_t k, int32_t n,
               const int32_t* col_offset, const int32_t* row_offset, int32_t* c, int32_t ldc);

}  // namespace qvit::kernels::ref
