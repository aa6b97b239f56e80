#pragma once
// Float GEMM for the float executor, backed by OpenBLAS. Row-major everywhere.
#include <cstdint>

namespace qvit {

// C[M,N] = A[M,K]·B[K,N] (+ C if accumulate). A is [K,M] when trans_a, B is [N,K] when trans_b.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate = false);

// `count` independent GEMMs with the given element strides between consecutive A, B and C
// (a stride of 0 broadcasts one matrix). Small GEMMs run one per thread, big ones use BLAS threads.
void sgemm_batched(int64_t count, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                   const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b,
                   float* c, int64_t ldc, int64_t stride_c);

// C[M,N] = alpha·A[M,K]·B[K,N] on qvit's packed kernel (requires packed_gemm_available()), with
// B[r,c] at b[r·b_row_stride + c·b_col_stride] (any layout: it is packed) and unit column strides
// for A and C.
void sgemm_packed(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                  int64_t b_row_stride, int64_t b_col_stride, float* c, int64_t ldc);

}  // namespace qvit
