#pragma once
// M* per softmax layer for the int32-safe softmax (MLSys'23 "Practical Edge Kernels", Sec. 3.1.2):
// the kernel requantizes its input to the scale at which the i-exp maximum stays below 2^(31−M*),
// then shifts the exps left by M* and divides once. Larger M* means finer probabilities but coarser
// logits. The choices, all recorded in the CalibrationResult:
//  - output-oriented, as the paper states it: the smallest M* whose unit in the last place 2^−M* is
//    below the smallest gap δ_min between the float probabilities seen in a calibration row (sorted,
//    0 included, so the smallest probability counts as a gap too);
//  - output-oriented, provable: the smallest M* whose ulp is below the smallest nonzero probability
//    the kernel can produce, 1/(cols·e_max) with e_max < 2^(31−M*): 2M* ≥ 30 + ⌈log2 cols⌉. Then no
//    nonzero exp ever divides to 0 — zero truncations on any input, not only on the data seen;
//  - MSE: the M* in [8, 24] with the lowest mean squared error between the float softmax and the
//    int32-safe kernel on rows of the calibration logits (quantized at that M*'s input scale).
#include <cstdint>
#include <string>
#include <vector>

namespace qvit {

// Up to `max_rows` rows of one softmax layer's float input, spread over the calibration batches.
class SoftmaxRowSample {
 public:
  SoftmaxRowSample(int64_t cols, int64_t max_rows) : cols_(cols), max_rows_(max_rows) {}
  // Offers `rows` rows; keeps every `stride`-th so the sample spans all calls (stride fixed by the
  // caller's expected total).
  void observe(const float* x, int64_t rows, int64_t stride);
  int64_t cols() const { return cols_; }
  int64_t rows() const { return static_cast<int64_t>(data_.size()) / std::max<int64_t>(cols_, 1); }
  const std::vector<float>& data() const { return data_; }

 private:
  int64_t cols_, max_rows_;
  int64_t seen_ = 0;
  std::vector<float> data_;
};

int32_t m_star_output_oriented(int64_t cols);
// The smallest M* in [1, 30] with 2^−M* < δ_min of the sampled rows (30 if no gap is that large).
int32_t m_star_smallest_gap(const SoftmaxRowSample& rows);

struct MStarMse {
  int32_t m_star = 0;
  double mse = 0;  // at m_star
};
MStarMse m_star_min_mse(const SoftmaxRowSample& rows, int32_t lo = 8, int32_t hi = 24);

}  // namespace qvit
