#pragma once
// qvit's own float GEMM for Linear layers: y[M,N] = x[M,K]·W[K,N] + b, with W (a constant) packed
// once into 32-column panels. An AVX-512 kernel chosen at run time when the CPU has it; elsewhere
// callers use OpenBLAS (sgemm), whose kernel choice these machines pin to AVX2.
#include <cstdint>
#include <vector>

namespace qvit {

struct PackedWeights {
  int64_t k = 0, n = 0;
  std::vector<float> panels;  // panel p: k rows of 32 floats (columns 32p .. 32p+31, zero padded)
};

PackedWeights pack_weights(const float* w, int64_t k, int64_t n);

// Packs B[k, n] (row stride ldb) into `dst`, which holds packed_size(k, n) floats.
int64_t packed_size(int64_t k, int64_t n);
void pack_panels(const float* b, int64_t ldb, int64_t k, int64_t n, float* dst);
// The same for B[r, c] at b[r·row_stride + c·col_stride], multiplied by alpha while packing.
void pack_panels(const float* b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n, float alpha, float* dst);

// True when the CPU runs the AVX-512 kernel (checked once) and QVIT_GEMM is not "blas".
bool packed_gemm_available();

// y = x·W (+ bias if not null), row-major, parallel over row blocks.
void packed_gemm(const float* x, int64_t m, const PackedWeights& w, const float* bias, float* y);
// The same on packed panels of B[k, n] and row strides of x (ldx) and y (ldy).
void packed_gemm(const float* x, int64_t ldx, int64_t m, const float* panels, int64_t k, int64_t n, const float* bias,
                 float* y, int64_t ldy);

}  // namespace qvit
