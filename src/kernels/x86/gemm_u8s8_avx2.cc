// AVX2 u8×s8 GEMM tile: 4 (6 with AVX-VNNI) rows × 16 columns of a panel over one K block, summed
// in ymm registers, then added to C with the offsets.
//
// The vpmaddubsw trap: it adds two u8·s8 products into int16 WITH saturation, and 2·255·127 >
// 32767. The Maddubs variant is only used when 2·255·max|B| ≤ 32767 (max|B| ≤ 64: 4-bit weights,
// small activations), decided at pack time; otherwise Exact widens both sides to int16 and uses
// vpmaddwd (255·128·2 fits int32 easily). Sums are int32 with wrap-around adds: exact under the
// caller's no-overflow guarantee (kernels/gemm_u8s8.h), in any order.
#include <immintrin.h>

#include <cstring>

#include "kernels/x86/gemm_u8s8_x86.h"

namespace qvit::kernels {

static inline int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

static inline __m256i broadcast_word(const uint8_t* p) {
  int32_t w;
  std::memcpy(&w, p, sizeof w);
  return _mm256_set1_epi32(w);
}

// One group of 4 k, one row: a holds the row's 4 A bytes in every 32-bit lane, b[v] [8 cols][4 k].
static inline __attribute__((always_inline)) void maddubs_row(__m256i* acc, __m256i a, const __m256i* b) {
  const __m256i ones = _mm256_set1_epi16(1);
  acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b[0]), ones));
  acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b[1]), ones));
}

// The same exact for any int8 B: A bytes zero-extended to the int16 pairs (a0, a1) and (a2, a3)
// by vpshufb; b holds int16 pairs: [pair 0: cols 0-7, cols 8-15][pair 1: cols 0-7, cols 8-15].
static inline __attribute__((always_inline)) void exact_row(__m256i* acc, __m256i a, const __m256i* b) {
  const __m256i pair01 = _mm256_set1_epi32(static_cast<int32_t>(0x80018000u));  // bytes 0, -, 1, -
  const __m256i pair23 = _mm256_set1_epi32(static_cast<int32_t>(0x80038002u));  // bytes 2, -, 3, -
  const __m256i a01 = _mm256_shuffle_epi8(a, pair01), a23 = _mm256_shuffle_epi8(a, pair23);
  acc[0] = _mm256_add_epi32(acc[0], _mm256_add_epi32(_mm256_madd_epi16(a01, b[0]), _mm256_madd_epi16(a23, b[2])));
  acc[1] = _mm256_add_epi32(acc[1], _mm256_add_epi32(_mm256_madd_epi16(a01, b[1]), _mm256_madd_epi16(a23, b[3])));
}

// 4 rows × 16 columns; B groups of 64 bytes (int8, maddubs) or 128 (int16 pairs, exact).
static inline __attribute__((always_inline)) void tile4(const GemmU8S8Tile& t, bool exact, int32_t (*sums)[16]) {
  const int nvec = exact ? 4 : 2;
  __m256i acc[4][2];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const int8_t* b_bytes = t.b;
  for (int64_t g = 0; g < t.groups; ++g, b_bytes += 32 * nvec) {
    __m256i b[4];
    for (int v = 0; v < nvec; ++v) b[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b_bytes) + v);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256i a = broadcast_word(t.a_rows[r] + 4 * g);
      if (exact)
        exact_row(acc[r], a, b);
      else
        maddubs_row(acc[r], a, b);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums[r]), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums[r] + 8), acc[r][1]);
  }
}


void gemm_u8s8_avx2_unpack_s4(const uint8_t* src, int64_t values, int8_t* dst) {
  const __m256i nibble = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
  for (int64_t i = 0; i < values; i += 64) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i / 2));
    const __m256i lo = _mm256_and_si256(v, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);
    // (x ^ 8) - 8 sign-extends a nibble.
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_sub_epi8(_mm256_xor_si256(lo, eight), eight));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 32), _mm256_sub_epi8(_mm256_xor_si256(hi, eight), eight));
  }
}

// C rows += sums (first K block: C = sums + col_offset + row_offset), `cols` valid columns.
// Masked loads and stores only for a partial half: vpmaskmovd stores are slow on some CPUs.
static void add_tile(const GemmU8S8Panel& p, int64_t i0, int rows, bool first, int32_t (*sums)[16]) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int half = 0; half < 2; ++half) {
    const int64_t valid = p.cols - 8 * half;
    if (valid <= 0) break;
    const bool full = valid >= 8;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(min64(valid, 8))), lane);
    __m256i col_off = _mm256_setzero_si256();
    if (first && p.col_offset != nullptr) col_off = _mm256_maskload_epi32(p.col_offset + 8 * half, mask);
    for (int r = 0; r < rows; ++r) {
      int32_t* c = p.c + (i0 + r) * p.ldc + 8 * half;
      __m256i* c_vec = reinterpret_cast<__m256i*>(c);
      __m256i base;
      if (first)
        base = _mm256_add_epi32(col_off, _mm256_set1_epi32(p.row_offset != nullptr ? p.row_offset[i0 + r] : 0));
      else
        base = full ? _mm256_loadu_si256(c_vec) : _mm256_maskload_epi32(c, mask);
      const __m256i sum = _mm256_add_epi32(base, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums[r] + 8 * half)));
      if (full)
        _mm256_storeu_si256(c_vec, sum);
      else
        _mm256_maskstore_epi32(c, mask, sum);
    }
  }
}

void gemm_u8s8_avx2_tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t, Avx2Dot dot) {
  alignas(32) int32_t sums[kAvx2VnniTileRows][16];
  switch (dot) {
    case Avx2Dot::Maddubs: tile4(t, false, sums); break;
    case Avx2Dot::Exact: tile4(t, true, sums); break;
    case Avx2Dot::Vnni: gemm_u8s8_avx2vnni_sums(t, sums); break;
  }
  add_tile(p, t.i0, t.rows, t.first, sums);
}

}  // namespace qvit::kernels
