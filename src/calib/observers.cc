#include "calib/observers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace qvit {

void MinMaxObserver::observe(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) continue;
    if (count_ == 0) lo_ = hi_ = x[i];
    lo_ = std::min(lo_, x[i]);
    hi_ = std::max(hi_, x[i]);
    ++count_;
  }
}

Range MinMaxObserver::range() const { return {lo_, hi_}; }

double percentile_of_sorted(const std::vector<float>& v, double p) {
  QVIT_CHECK(!v.empty(), "percentile of nothing");
  const double idx = (static_cast<double>(v.size()) - 1.0) * p / 100.0;
  const auto i = static_cast<size_t>(std::floor(idx));
  const size_t j = std::min(i + 1, v.size() - 1);
  const double frac = idx - static_cast<double>(i);
  return static_cast<double>(v[i]) + (static_cast<double>(v[j]) - static_cast<double>(v[i])) * frac;
}

namespace {
// Values needed from one end to interpolate percentile p of `total` values: positions
// floor(idx) and floor(idx)+1 counted from that end.
size_t values_needed(double p_from_end, int64_t total) {
  const double idx = (static_cast<double>(total) - 1.0) * p_from_end / 100.0;
  return static_cast<size_t>(std::floor(idx)) + 2;
}
}  // namespace

PercentileObserver::PercentileObserver(double lower, double upper, int64_t total)
    : lower_(lower), upper_(upper), total_(total) {
  if (!(lower >= 0 && lower < upper && upper <= 100)) throw Error("percentiles must satisfy 0 <= lower < upper <= 100");
  QVIT_CHECK(total > 0, "percentile observer needs the total count");
  k_low_ = values_needed(lower, total);
  k_high_ = values_needed(100.0 - upper, total);
}

void PercentileObserver::observe(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (smallest_.size() < k_low_) smallest_.push(v);
    else if (v < smallest_.top()) {
      smallest_.pop();
      smallest_.push(v);
    }
    if (largest_.size() < k_high_) largest_.push(v);
    else if (v > largest_.top()) {
      largest_.pop();
      largest_.push(v);
    }
  }
  seen_ += n;
}

Range PercentileObserver::range() const {
  if (seen_ != total_)
    throw InternalError("percentile observer saw " + std::to_string(seen_) + " values, expected " + std::to_string(total_));
  // Interpolate within the kept tails using global positions.
  auto low = smallest_;
  std::vector<float> lows;
  while (!low.empty()) {
    lows.push_back(low.top());
    low.pop();
  }
  std::reverse(lows.begin(), lows.end());  // ascending: global positions 0..k-1
  auto high = largest_;
  std::vector<float> highs;
  while (!high.empty()) {
    highs.push_back(high.top());
    high.pop();
  }  // ascending: global positions total-k..total-1
  auto at = [&](int64_t pos) -> double {
    if (pos < static_cast<int64_t>(lows.size())) return lows[static_cast<size_t>(pos)];
    const int64_t from = total_ - static_cast<int64_t>(highs.size());
    QVIT_CHECK(pos >= from, "percentile position outside the kept tails");
    return highs[static_cast<size_t>(pos - from)];
  };
  auto interp = [&](double p) {
    const double idx = (static_cast<double>(total_) - 1.0) * p / 100.0;
    const auto i = static_cast<int64_t>(std::floor(idx));
    const int64_t j = std::min(i + 1, total_ - 1);
    return at(i) + (at(j) - at(i)) * (idx - static_cast<double>(i));
  };
  return {static_cast<float>(interp(lower_)), static_cast<float>(interp(upper_))};
}

HistogramObserver::HistogramObserver(Range range, int bins) : range_(range), counts_(static_cast<size_t>(bins), 0) {
  if (!(range_.hi > range_.lo)) range_.hi = range_.lo + 1e-6f;
}

void HistogramObserver::observe(const float* x, int64_t n) {
  const double width = (static_cast<double>(range_.hi) - range_.lo) / static_cast<double>(counts_.size());
  const auto last = static_cast<int64_t>(counts_.size()) - 1;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) continue;
    const auto b = static_cast<int64_t>(std::floor((static_cast<double>(x[i]) - range_.lo) / width));
    counts_[static_cast<size_t>(std::clamp<int64_t>(b, 0, last))]++;
  }
}

double HistogramObserver::quant_error(float lo, float hi, int bits, QuantScheme scheme) const {
  const QuantParams p = params_for_range(lo, hi, bits, scheme);
  const double width = (static_cast<double>(range_.hi) - range_.lo) / static_cast<double>(counts_.size());
  double err = 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    if (!counts_[b]) continue;
    const float centre = static_cast<float>(range_.lo + (static_cast<double>(b) + 0.5) * width);
    const double d = static_cast<double>(p.fake_quant(centre)) - centre;
    err += d * d * static_cast<double>(counts_[b]);
  }
  return err;
}

Range HistogramObserver::mse_range(int bits, QuantScheme scheme) const {
  // Shrink both ends of the observed range by a common factor α ∈ [0.3, 1]: a grid of 100
  // candidates, as the MSE/OMSE searches of FQ-ViT and PTQ4ViT do.
  Range best = range_;
  double best_err = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= 100; ++i) {
    const float alpha = 0.3f + 0.7f * static_cast<float>(i) / 100.0f;
    const float lo = range_.lo * alpha, hi = range_.hi * alpha;
    const double e = quant_error(lo, hi, bits, scheme);
    if (e < best_err) {
      best_err = e;
      best = {lo, hi};
    }
  }
  return best;
}

}  // namespace qvit
