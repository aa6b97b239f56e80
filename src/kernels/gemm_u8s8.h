#pragma once
// Exact integer GEMM of the integer runtime's linear ops: uint8 activations × int8 (or int4)
// weights, int32 accumulation, with the zero-point corrections of gemmlowp folded into per-column
// and per-row offsets:
//   sum_k (a - z) * b = sum_k a * b - z * col_sums[j]   →   col_offset[j] = bias[j] - z * col_sums[j]
// so the kernels see only unsigned A and signed B (what vpdpbusd multiplies). B is packed once per
// kernel path (kernels/kernel_path.h); every path equals the reference (kernels/reference/
// gemm_u8s8.h) bit for bit.
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/kernel_path.h"

namespace qvit::kernels {

// B[k, n] of int8 values packed once (weights: at prepare time; activations such as Kᵀ or V: per
// call) for one kernel path. bits 8: values in [-128, 127]; bits 4: values in [-8, 7], stored two
// per byte and unpacked inside the kernel.
struct PackedS8 {
  KernelPath path = KernelPath::Ref;
  int64_t k = 0, n = 0;
  int bits = 8;
  int32_t max_abs = 0;            // max |B|: the caller's overflow bound and the AVX2 variant choice
  bool avx2_maddubs = false;      // Avx2 path: 2·255·max_abs ≤ 32767, so vpmaddubsw cannot saturate
  std::vector<int32_t> col_sums;  // sum_k B[k, j]: zero-point corrections (gemmlowp)
  std::vector<uint8_t> data;      // layout private to the path (documented in gemm_u8s8.cc)
};

// B[r, c] read at b[r*row_stride + c*col_stride] (so Wᵀ and Kᵀ need no copy). Throws for a path
// this CPU cannot run, negative sizes, bits other than 4 and 8, or a value outside the bits' range.
PackedS8 pack_s8(const int8_t* b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n, KernelPath path,
                 int bits = 8);

// C[i, j] = col_offset[j] + (row_offset ? row_offset[i] : 0) + sum_k A[i, k] * B[k, j]
// A: uint8 [m, k] with row stride lda; C: int32 [m, n] with row stride ldc; col_offset may be null
// (zeros). The caller guarantees no int32 overflow (|offsets| + k*255*max_abs < 2^31): the kernels
// assume it and add in wrap-around int32, so any order of the partial sums gives the same result.
// after_rows, when given, is called by the worker that finished rows [r0, r1) of C (all columns),
// so the caller can requantize them while they are in cache (fused epilogue); every row of C is
// covered by exactly one call. Threads: qvit::parallel_for over row blocks × column panels.
void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t m, const PackedS8& b, const int32_t* col_offset,
               const int32_t* row_offset, int32_t* c, int64_t ldc,
               const std::function<void(int64_t r0, int64_t r1)>* after_rows = nullptr);

}  // namespace qvit::kernels
