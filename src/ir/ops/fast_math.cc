#include "ir/ops/fast_math.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include <immintrin.h>

namespace qvit {
namespace {

// exp(x) = 2^k · exp(r), k = round(x·log2 e), r = x − k·ln2 split in two parts (Cody–Waite) so r is
// exact to float precision; exp(r) on |r| ≤ ln2/2 by a degree-6 polynomial. Written branch-free so
// GCC vectorizes the loops below: k is rounded with the 1.5·2^23 trick (adding and subtracting it
// rounds to nearest in the default rounding mode) instead of a libm call per element.
inline float exp_one(float x_in) {
  // Clamped with comparisons that send NaN to the low end, so no NaN reaches the float→int
  // conversion (undefined behaviour); NaN is put back at the end.
  float x = x_in > -87.3f ? x_in : -87.3f;
  x = x < 88.3f ? x : 88.3f;
  const float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float y = p * std::bit_cast<float>((static_cast<int32_t>(k) + 127) << 23);
  const float big = x_in > 88.72f ? INFINITY : y;
  const float small = x_in < -104.0f ? 0.0f : big;
  return x_in != x_in ? x_in : small;
}

// erf by a rational approximation x·P(x²)/Q(x²) on |x| ≤ 4 (erf is 1 to float precision beyond);
// coefficients of the well-known minimax fit used by Eigen and ONNX Runtime's MLAS.
inline float erf_one(float x) {
  x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);  // NaN passes through
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return x * p / q;
}

}  // namespace

// One copy per instruction set, chosen when the program loads (the CPU is detected at run time;
// CI machines may lack AVX-512).
#define QVIT_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

QVIT_SIMD_CLONES void exp_f32(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_one(x[i]);
}

QVIT_SIMD_CLONES void erf_f32(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = erf_one(x[i]);
}

QVIT_SIMD_CLONES void gelu_f32(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + erf_one(x[i] * 0.70710678118654752f));
}

// Reductions keep 16 independent partial results: without -ffast-math GCC will not reorder a single
// running max/sum, so explicit lanes are a fixed (deterministic) reassociation it can vectorize.
QVIT_SIMD_CLONES void softmax_row_portable(const float* x, float* p, int64_t len) {
  float lane[16];
  std::fill_n(lane, 16, -INFINITY);
  int64_t i = 0;
  for (; i + 16 <= len; i += 16)
    for (int j = 0; j < 16; ++j) lane[j] = lane[j] > x[i + j] ? lane[j] : x[i + j];
  float mx = -INFINITY;
  for (int j = 0; j < 16; ++j) mx = std::max(mx, lane[j]);
  for (; i < len; ++i) mx = std::max(mx, x[i]);
  for (i = 0; i < len; ++i) p[i] = exp_one(x[i] - mx);
  std::fill_n(lane, 16, 0.0f);
  for (i = 0; i + 16 <= len; i += 16)
    for (int j = 0; j < 16; ++j) lane[j] += p[i + j];
  float sum = 0.0f;
  for (int j = 0; j < 16; ++j) sum += lane[j];
  for (; i < len; ++i) sum += p[i];
  const float inv = 1.0f / sum;
  for (i = 0; i < len; ++i) p[i] *= inv;
}

// GCC 12 warns about the deliberately undefined lanes inside its own AVX-512 intrinsic headers
// (_mm512_undefined_ps in the reductions and conversions); nothing here reads an undefined value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace {

// exp_one on 16 lanes for arguments ≤ 0 (softmax after the max is subtracted), so only the low
// clamp is needed; NaN lanes stay NaN through the arithmetic.
__attribute__((target("avx512f,fma"))) inline __m512 exp_nonpositive_avx512(__m512 x_in) {
  const __m512 x = _mm512_max_ps(x_in, _mm512_set1_ps(-87.3f));
  const __m512 k = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(12582912.0f)),
                                 _mm512_set1_ps(12582912.0f));
  const __m512 r = _mm512_fmadd_ps(k, _mm512_set1_ps(2.12194440e-4f), _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x));
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(k), _mm512_set1_epi32(127)), 23);
  const __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
  // Below −104 exp is 0 in float (exp_one's convention).
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x_in, _mm512_set1_ps(-104.0f), _CMP_NLT_UQ), y);
}

__mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

// Three passes (max; exp, store and sum; scale), 16 lanes each, the last one masked.
__attribute__((target("avx512f,fma"))) void softmax_row_avx512(const float* x, float* y, int64_t len) {
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < len; i += 16)
    vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(len - i), x + i));
  const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t i = 0; i < len; i += 16) {
    const __mmask16 m = tail_mask(len - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp_nonpositive_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mx)));
    _mm512_mask_storeu_ps(y + i, m, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
  for (int64_t i = 0; i < len; i += 16) {
    const __mmask16 m = tail_mask(len - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), inv));
  }
}

bool cpu_has_avx512() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return has;
}

}  // namespace
#pragma GCC diagnostic pop

void softmax_row_f32(const float* x, float* y, int64_t len) {
  if (len <= 0) return;
  if (cpu_has_avx512()) softmax_row_avx512(x, y, len);
  else softmax_row_portable(x, y, len);
}

QVIT_SIMD_CLONES void layernorm_row_f32(const float* x, float* y, int64_t len, const float* gamma, const float* beta,
                                         float eps, float* mean_out, float* inv_std_out) {
  float lane[16] = {};
  int64_t i = 0;
  for (; i + 16 <= len; i += 16)
    for (int j = 0; j < 16; ++j) lane[j] += x[i + j];
  float s = 0;
  for (int j = 0; j < 16; ++j) s += lane[j];
  for (; i < len; ++i) s += x[i];
  const float mean = s / static_cast<float>(len);
  std::fill_n(lane, 16, 0.0f);
  for (i = 0; i + 16 <= len; i += 16)
    for (int j = 0; j < 16; ++j) lane[j] += (x[i + j] - mean) * (x[i + j] - mean);
  float v = 0;
  for (int j = 0; j < 16; ++j) v += lane[j];
  for (; i < len; ++i) v += (x[i] - mean) * (x[i] - mean);
  const float inv = 1.0f / std::sqrt(v / static_cast<float>(len) + eps);
  for (i = 0; i < len; ++i) y[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
  *mean_out = mean;
  *inv_std_out = inv;
}

}  // namespace qvit
