// The AVX-VNNI sums of the AVX2 GEMM tile (gemm_u8s8_avx2.cc adds them to C): vpdpbusd on ymm
// multiplies 4 u8 × 4 s8 and adds them to int32 without saturation (not vpdpbusds), so it is
// exact for every int8 B.
#include <immintrin.h>

#include <cstring>

#include "kernels/x86/gemm_u8s8_x86.h"

namespace qvit::kernels {

static constexpr int kRows = kAvx2VnniTileRows;  // 6 rows × 2 ymm: 12 accumulators of 16 registers

static inline __m256i broadcast_word(const uint8_t* p) {
  int32_t w;
  std::memcpy(&w, p, sizeof w);
  return _mm256_set1_epi32(w);
}

void gemm_u8s8_avx2vnni_sums(const GemmU8S8Tile& t, int32_t (*sums)[16]) {
  __m256i acc[kRows][2];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const int8_t* b = t.b;
  for (int64_t g = 0; g < t.groups; ++g, b += 64) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {  // one A broadcast live at a time: 12 + 2 + 1 ymm registers
      const __m256i a = broadcast_word(t.a_rows[r] + 4 * g);
      acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], a, b0);
      acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], a, b1);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums[r]), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums[r] + 8), acc[r][1]);
  }
}

}  // namespace qvit::kernels
