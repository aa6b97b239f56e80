#include "ir/ops/fast_math.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace qvit {
namespace {

// exp(x) = 2^k · exp(r), k = round(x·log2 e), r = x − k·ln2 split in two parts (Cody–Waite) so r is
// exact to float precision; exp(r) on |r| ≤ ln2/2 by a degree-6 Taylor/minimax polynomial.
inline float exp_one(float x_in) {
  // Written so NaN never reaches the float→int conversion (UB); NaN is restored at the end.
  float x = x_in > -87.3f ? x_in : -87.3f;
  x = x < 88.3f ? x : 88.3f;
  const float k = std::nearbyint(x * 1.44269504088896341f);
  const float r = (x - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  const float y = p * std::bit_cast<float>(bits);
  if (x_in != x_in) return x_in;
  return x_in > 88.72f ? INFINITY : (x_in < -87.3f && x_in < -104.0f ? 0.0f : y);
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

void exp_f32(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_one(x[i]);
}

void erf_f32(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = erf_one(x[i]);
}

void gelu_f32(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + erf_one(x[i] * 0.70710678118654752f));
}

}  // namespace qvit
