#pragma once
// Range observers for calibration: they see every batch of a tensor (observe) and then decide a
// clipping range (range). Memory stays bounded whatever the calibration set size:
//  - MinMaxObserver: running min and max;
//  - PercentileObserver: exact numpy-style percentiles (linear interpolation) from only the
//    k smallest and k largest values, k fixed by the known total count and the percentiles;
//  - HistogramObserver: a fixed-range histogram (range from a first min/max pass) for MSE search.
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "calib/quant_params.h"

namespace qvit {

struct Range {
  float lo = 0, hi = 0;
};

class MinMaxObserver {
 public:
  void observe(const float* x, int64_t n);
  Range range() const;
  int64_t count() const { return count_; }

 private:
  float lo_ = 0, hi_ = 0;
  int64_t count_ = 0;
};

class PercentileObserver {
 public:
  // lower/upper in percent (e.g. 0.1 and 99.9); `total` = how many values will be observed.
  PercentileObserver(double lower, double upper, int64_t total);
  void observe(const float* x, int64_t n);
  // Throws InternalError if fewer values than `total` were observed.
  Range range() const;

 private:
  double lower_, upper_;
  int64_t total_, seen_ = 0;
  size_t k_low_, k_high_;
  std::priority_queue<float> smallest_;                                      // max-heap of the k smallest
  std::priority_queue<float, std::vector<float>, std::greater<float>> largest_;  // min-heap of the k largest
};

class HistogramObserver {
 public:
  HistogramObserver(Range range, int bins = 2048);
  void observe(const float* x, int64_t n);
  // The range [lo', hi'] ⊆ range whose fake-quantization with `bits`/`scheme` has the smallest
  // mean squared error over the histogram (bin centres stand for their values).
  Range mse_range(int bits, QuantScheme scheme) const;
  const std::vector<int64_t>& counts() const { return counts_; }

 private:
  double quant_error(float lo, float hi, int bits, QuantScheme scheme) const;
  Range range_;
  std::vector<int64_t> counts_;
};

// numpy.percentile(values, p) (linear interpolation) of a sorted vector.
double percentile_of_sorted(const std::vector<float>& sorted, double p);

}  // namespace qvit
