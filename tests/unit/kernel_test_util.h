#pragma once
// Helpers for the integer kernel tests: fixed-seed inputs and double references.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace qvit::kernels::testing {

inline std::vector<int32_t> random_ints(int32_t count, int32_t lo, int32_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int32_t> v(count);
  for (auto& x : v) x = d(rng);
  return v;
}

// Row-wise softmax of x * scale (double).
inline std::vector<double> softmax_rows(const std::vector<int32_t>& x, int32_t cols, double scale) {
  std::vector<double> out(x.size());
  for (size_t r = 0; r < x.size() / cols; ++r) {
    const int32_t* row = x.data() + r * cols;
    const double m = *std::max_element(row, row + cols);
    double sum = 0;
    for (int32_t j = 0; j < cols; ++j) sum += std::exp((row[j] - m) * scale);
    for (int32_t j = 0; j < cols; ++j) out[r * cols + j] = std::exp((row[j] - m) * scale) / sum;
  }
  return out;
}

inline double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

inline double max_abs_diff(const std::vector<int32_t>& q, double q_scale, const std::vector<double>& ref) {
  double worst = 0;
  for (size_t i = 0; i < q.size(); ++i) worst = std::max(worst, std::fabs(q[i] * q_scale - ref[i]));
  return worst;
}

}  // namespace qvit::kernels::testing
