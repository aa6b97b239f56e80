#include "ir/ops/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "ir/ops/packed_gemm.h"
#include "util/thread_pool.h"

namespace qvit {

namespace {
// OpenBLAS keeps its own threads; match them to the pool's size once.
void sync_blas_threads() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(num_threads()); });
}
}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
    return;
  }
  // Plain products of at least a micro-tile of rows (attention's QKᵀ and attn·V, the patch-embedding
  // Conv) run on the packed AVX-512 kernel: packing B costs k·n moves against m·k·n multiply-adds,
  // and OpenBLAS is pinned to its AVX2 kernels on these machines.
  if (!trans_a && !trans_b && !accumulate && m >= 8 && packed_gemm_available()) {
    sgemm_packed(m, n, k, 1.0f, a, lda, b, ldb, 1, c, ldc);
    return;
  }
  sync_blas_threads();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), accumulate ? 1.0f : 0.0f, c,
              static_cast<blasint>(ldc));
}

void sgemm_packed(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                  int64_t b_row_stride, int64_t b_col_stride, float* c, int64_t ldc) {
  thread_local std::vector<float> packed;
  packed.resize(static_cast<size_t>(packed_size(k, n)));
  pack_panels(b, b_row_stride, b_col_stride, k, n, alpha, packed.data());
  packed_gemm(a, lda, m, packed.data(), k, n, nullptr, c, ldc);
}

void sgemm_batched(int64_t count, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                   const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b,
                   float* c, int64_t ldc, int64_t stride_c) {
  sync_blas_threads();
  // Below this many multiply-adds per GEMM, BLAS threading costs more than it gains: run
  // single-threaded GEMMs side by side instead (attention's per-head QKᵀ and attn·V).
  const bool small = m * n * k < (int64_t{1} << 22);
  const int threads = num_threads();
  auto one = [&](int64_t i) {
    sgemm(trans_a, trans_b, m, n, k, a + i * stride_a, lda, b + i * stride_b, ldb, c + i * stride_c, ldc);
  };
  if (count > 1 && small && threads > 1) {
    openblas_set_num_threads(1);
    parallel_for(count, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) one(i);
    });
    openblas_set_num_threads(threads);
  } else {
    for (int64_t i = 0; i < count; ++i) one(i);
  }
}

}  // namespace qvit
