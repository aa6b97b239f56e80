#include "kernels/reference/gemm_u8s8.h"

#include "util/error.h"

namespace qvit::kernels::ref {

void gemm_u8s8(const uint8_t* a, int32_t lda, int32_t m, const int8_t* b, int32_t k, int32_t n,
               const int32_t* col_offset, const int32_t* row_offset, int32_t* c, int32_t ldc) {
  QVIT_CHECK(m >= 0 && k >= 0 && n >= 0, "gemm_u8s8: negative size");
  for (int32_t i = 0; i < m; ++i) {
    for (int32_t j = 0; j < n; ++j) {
      int32_t acc = (col_offset != nullptr ? col_offset[j] : 0) + (row_offset != nullptr ? row_offset[i] : 0);
      for (int32_t t = 0; t < k; ++t) acc += static_cast<int32_t>(a[i * lda + t]) * static_cast<int32_t>(b[t * n + j]);
      c[i * ldc + j] = acc;
    }
  }
}

}  // namespace qvit::kernels::ref
