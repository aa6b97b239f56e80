#include "ir/ops/packed_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "util/thread_pool.h"

namespace qvit {

namespace {
constexpr int64_t kPanel = 32;   // columns per panel: two zmm registers
constexpr int64_t kRows = 8;     // rows per micro-tile: 16 accumulators
constexpr int64_t kDepth = 256;  // K block: a 32 KiB slice of a panel stays in L1 across row tiles
constexpr int64_t kRowBlock = 64;
}  // namespace

int64_t packed_size(int64_t k, int64_t n) { return (n + kPanel - 1) / kPanel * k * kPanel; }

void pack_panels(const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  pack_panels(b, ldb, 1, k, n, 1.0f, dst);
}

void pack_panels(const float* b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n, float alpha, float* dst) {
  const int64_t panels = (n + kPanel - 1) / kPanel;
  for (int64_t q = 0; q < panels; ++q) {
    const int64_t cols = std::min(kPanel, n - q * kPanel);
    for (int64_t r = 0; r < k; ++r) {
      float* d = dst + (q * k + r) * kPanel;
      const float* src = b + r * row_stride + q * kPanel * col_stride;
      if (col_stride == 1 && alpha == 1.0f) {
        std::memcpy(d, src, static_cast<size_t>(cols) * sizeof(float));
      } else {
        for (int64_t c = 0; c < cols; ++c) d[c] = alpha * src[c * col_stride];
      }
      if (cols < kPanel) std::fill(d + cols, d + kPanel, 0.0f);
    }
  }
}

PackedWeights pack_weights(const float* w, int64_t k, int64_t n) {
  PackedWeights p;
  p.k = k;
  p.n = n;
  p.panels.resize(static_cast<size_t>(packed_size(k, n)));
  pack_panels(w, n, k, n, p.panels.data());
  return p;
}

bool packed_gemm_available() {
  static const bool available = [] {
    const char* env = std::getenv("QVIT_GEMM");
    if (env && std::strcmp(env, "blas") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return available;
}

namespace {

// C[R rows, 32 cols] (+)= A[R rows, k0..k1) · panel[k0..k1, 32]; `first` starts from bias/zero.
template <int R>
__attribute__((target("avx512f,fma"))) void micro_tile(const float* a, int64_t lda, const float* panel, int64_t k0,
                                                        int64_t k1, float* c, int64_t ldc, __mmask16 m0, __mmask16 m1,
                                                        bool first, const float* bias) {
  __m512 acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) {
    if (first) {
      acc0[r] = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
      acc1[r] = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    } else {
      acc0[r] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
      acc1[r] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
    }
  }
  const float* b = panel + k0 * kPanel;
  for (int64_t k = k0; k < k1; ++k, b += kPanel) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + k]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, m0, acc0[r]);
    _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc1[r]);
  }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t, __mmask16, __mmask16, bool,
                        const float*);
constexpr TileFn kTiles[kRows + 1] = {nullptr,        micro_tile<1>, micro_tile<2>, micro_tile<3>, micro_tile<4>,
                                      micro_tile<5>, micro_tile<6>, micro_tile<7>, micro_tile<8>};

__mmask16 mask_for(int64_t cols) {
  return cols >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << std::max<int64_t>(cols, 0)) - 1u);
}

}  // namespace

void packed_gemm(const float* x, int64_t m, const PackedWeights& w, const float* bias, float* y) {
  packed_gemm(x, w.k, m, w.panels.data(), w.k, w.n, bias, y, w.n);
}

void packed_gemm(const float* x, int64_t ldx, int64_t m, const float* packed, int64_t k, int64_t n, const float* bias,
                 float* y, int64_t ldy) {
  const int64_t panels = (n + kPanel - 1) / kPanel;
  // Tasks are (row block, group of panels): batch-1 ViT layers have only ~200 rows, so rows alone
  // would give too few, uneven tasks for the threads.
  constexpr int64_t kPanelsPerTask = 4;
  const int64_t row_blocks = (m + kRowBlock - 1) / kRowBlock;
  const int64_t panel_groups = (panels + kPanelsPerTask - 1) / kPanelsPerTask;
  parallel_for(row_blocks * panel_groups, 1, [&](int64_t t_begin, int64_t t_end) {
    for (int64_t t = t_begin; t < t_end; ++t) {
      const int64_t rb = t / panel_groups, pg = t % panel_groups;
      const int64_t i0 = rb * kRowBlock, i1 = std::min(m, i0 + kRowBlock);
      const int64_t q0 = pg * kPanelsPerTask, q1 = std::min(panels, q0 + kPanelsPerTask);
      for (int64_t k0 = 0; k0 < std::max<int64_t>(k, 1); k0 += kDepth) {
        const int64_t k1 = std::min(k, k0 + kDepth);
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t cols = std::min(kPanel, n - q * kPanel);
          const __mmask16 m0 = mask_for(cols), m1 = mask_for(cols - 16);
          const float* panel = packed + q * k * kPanel;
          const float* bq = bias ? bias + q * kPanel : nullptr;
          for (int64_t i = i0; i < i1; i += kRows) {
            const int64_t rows = std::min(kRows, i1 - i);
            kTiles[rows](x + i * ldx, ldx, panel, k0, k1, y + i * ldy + q * kPanel, ldy, m0, m1, k0 == 0, bq);
          }
        }
      }
    }
  });
}

}  // namespace qvit
