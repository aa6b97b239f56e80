#include "calib/m_star_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/int_math.h"
#include "kernels/kernel_params.h"
#include "kernels/reference/int32safe_softmax.h"

namespace qvit {

void SoftmaxRowSample::observe(const float* x, int64_t rows, int64_t stride) {
  for (int64_t r = 0; r < rows; ++r, ++seen_)
    if (seen_ % std::max<int64_t>(stride, 1) == 0 && this->rows() < max_rows_)
      data_.insert(data_.end(), x + r * cols_, x + (r + 1) * cols_);
}

int32_t m_star_output_oriented(int64_t cols) {
  const int32_t need = 30 + kernels::ceil_log2(static_cast<int32_t>(std::min<int64_t>(cols, 1 << 30)));
  return std::min<int32_t>(30, (need + 1) / 2);
}

namespace {
// Float softmax of every sampled row, in double.
std::vector<double> float_softmax(const SoftmaxRowSample& sample) {
  const int64_t cols = sample.cols(), rows = sample.rows();
  const std::vector<float>& x = sample.data();
  std::vector<double> p(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x.data() + r * cols;
    const double mx = *std::max_element(row, row + cols);
    double sum = 0;
    for (int64_t j = 0; j < cols; ++j) sum += p[r * cols + j] = std::exp(double(row[j]) - mx);
    for (int64_t j = 0; j < cols; ++j) p[r * cols + j] /= sum;
  }
  return p;
}
}  // namespace

int32_t m_star_smallest_gap(const SoftmaxRowSample& sample) {
  const std::vector<double> p = float_softmax(sample);
  const int64_t cols = sample.cols();
  double gap = 1.0;
  std::vector<double> row(static_cast<size_t>(cols) + 1);
  for (int64_t r = 0; r < sample.rows(); ++r) {
    row[0] = 0.0;
    std::copy(p.begin() + r * cols, p.begin() + (r + 1) * cols, row.begin() + 1);
    std::sort(row.begin(), row.end());
    for (size_t j = 1; j < row.size(); ++j)
      if (row[j] > row[j - 1]) gap = std::min(gap, row[j] - row[j - 1]);
  }
  for (int32_t m = 1; m <= 30; ++m)
    if (std::ldexp(1.0, -m) < gap) return m;
  return 30;
}

MStarMse m_star_min_mse(const SoftmaxRowSample& sample, int32_t lo, int32_t hi) {
  const int64_t cols = sample.cols(), rows = sample.rows();
  const std::vector<float>& x = sample.data();
  const std::vector<double> ref = float_softmax(sample);
  MStarMse best{lo, std::numeric_limits<double>::infinity()};
  std::vector<int32_t> q(x.size()), p(x.size());
  for (int32_t m = lo; m <= hi; ++m) {
    const double s = kernels::int32safe_softmax_min_input_scale(m);
    for (size_t i = 0; i < x.size(); ++i)
      q[i] = static_cast<int32_t>(std::clamp(std::round(double(x[i]) / s), -1e9, 1e9));
    const auto params = kernels::make_int32safe_softmax_params(s, m);
    kernels::ref::int32safe_softmax(q.data(), p.data(), static_cast<int32_t>(rows), static_cast<int32_t>(cols), params, nullptr);
    double err = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double d = std::ldexp(double(p[i]), -m) - ref[i];
      err += d * d;
    }
    err /= std::max<double>(1.0, double(x.size()));
    if (err < best.mse) best = {m, err};
  }
  return best;
}

}  // namespace qvit
