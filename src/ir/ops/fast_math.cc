#include "ir/ops/fast_math.h"

#include <algorithm>
#include <bit>
#include <cmath>

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
QVIT_SIMD_CLONES void softmax_row_f32(float* p, int64_t len) {
  float lane[16];
  std::fill_n(lane, 16, -INFINITY);
  int64_t i = 0;
  for (; i + 16 <= len; i += 16)
    for (int j = 0; j < 16; ++j) lane[j] = lane[j] > p[i + j] ? lane[j] : p[i + j];
  float mx = -INFINITY;
  for (int j = 0; j < 16; ++j) mx = std::max(mx, lane[j]);
  for (; i < len; ++i) mx = std::max(mx, p[i]);
  for (i = 0; i < len; ++i) p[i] = exp_one(p[i] - mx);
  std::fill_n(lane, 16, 0.0f);
  for (i = 0; i + 16 <= len; i += 16)
    for (int j = 0; j < 16; ++j) lane[j] += p[i + j];
  float sum = 0.0f;
  for (int j = 0; j < 16; ++j) sum += lane[j];
  for (; i < len; ++i) sum += p[i];
  const float inv = 1.0f / sum;
  for (i = 0; i < len; ++i) p[i] *= inv;
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
