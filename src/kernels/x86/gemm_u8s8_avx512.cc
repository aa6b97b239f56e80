// AVX-512 VNNI u8×s8 GEMM tile: 6 rows × a panel of up to 48 columns stored as [k/4][width][4]
// int8 (k zero padded to a multiple of 4), over one K block: 18 zmm accumulators, 3 B vectors
// loaded per group of 4 k, each A word broadcast once per row (8 rows measured no faster).
// vpdpbusd (not the saturating vpdpbusds) adds 4 u8·s8 products to int32 with wrap-around: exact
// under the caller's no-overflow guarantee (kernels/gemm_u8s8.h), in any order.
#include <immintrin.h>

#include <cstring>

#include "kernels/x86/gemm_u8s8_x86.h"

namespace qvit::kernels {

static constexpr int kRows = kAvx512TileRows;
static constexpr int64_t kMaxWidth = 48;  // 3 zmm of int32

static inline __m512i broadcast_word(const uint8_t* p) {
  int32_t w;
  std::memcpy(&w, p, sizeof w);
  return _mm512_set1_epi32(w);
}

// kRows rows × nvec·16 columns, the first t.rows added to C.
static inline __attribute__((always_inline)) void tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t, int nvec) {
  __m512i acc[kRows][3];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < nvec; ++v) acc[r][v] = _mm512_setzero_si512();
  const int8_t* b = t.b;
  for (int64_t g = 0; g < t.groups; ++g, b += 64 * nvec) {
    __m512i bv[3];
    for (int v = 0; v < nvec; ++v) bv[v] = _mm512_loadu_si512(b + 64 * v);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {  // one A broadcast live at a time
      const __m512i a = broadcast_word(t.a_rows[r] + 4 * g);
      for (int v = 0; v < nvec; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], a, bv[v]);
    }
  }
  // Through memory with constant indices only: acc stays in registers in the loop above.
  alignas(64) int32_t sums[kRows][kMaxWidth];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < nvec; ++v) _mm512_store_si512(sums[r] + 16 * v, acc[r][v]);
  for (int v = 0; v < nvec; ++v) {
    const int64_t valid = p.cols - 16 * v;  // ≥ 1: the panel width is cols rounded up to 16
    const __mmask16 mask = valid >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1);
    __m512i col_off = _mm512_setzero_si512();
    if (t.first && p.col_offset != nullptr) col_off = _mm512_maskz_loadu_epi32(mask, p.col_offset + 16 * v);
    for (int r = 0; r < t.rows; ++r) {
      int32_t* c = p.c + (t.i0 + r) * p.ldc + 16 * v;
      const __m512i base =
          t.first ? _mm512_add_epi32(col_off, _mm512_set1_epi32(p.row_offset != nullptr ? p.row_offset[t.i0 + r] : 0))
                  : _mm512_maskz_loadu_epi32(mask, c);
      _mm512_mask_storeu_epi32(c, mask, _mm512_add_epi32(base, _mm512_load_si512(sums[r] + 16 * v)));
    }
  }
}

static void tile16(const GemmU8S8Panel& p, const GemmU8S8Tile& t) { tile(p, t, 1); }
static void tile32(const GemmU8S8Panel& p, const GemmU8S8Tile& t) { tile(p, t, 2); }
static void tile48(const GemmU8S8Panel& p, const GemmU8S8Tile& t) { tile(p, t, 3); }

void gemm_u8s8_avx512_tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t) {
  switch (p.width) {
    case 16: tile16(p, t); break;
    case 32: tile32(p, t); break;
    default: tile48(p, t); break;
  }
}

}  // namespace qvit::kernels
