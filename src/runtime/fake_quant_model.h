#pragma once
// The fake-quant simulation of a calibrated model: the float graph with the CalibrationResult's
// reparameterizations folded in, weights replaced by their quantized values, and every quantized
// activation rounded to its grid as it is produced. The reference that later integer stages match.
#include <memory>
#include <string>
#include <vector>

#include "calib/calibration_result.h"
#include "ir/executor.h"
#include "ir/graph.h"

namespace qvit {

// Signal and quantization-noise energy of one quantized tensor, accumulated over batches.
struct LayerError {
  std::string name, role;
  int bits = 0;
  double signal = 0, noise = 0;
  double sqnr_db() const;
};

class FakeQuantModel {
 public:
  // Refuses a calibration made for another model (sha256 mismatch) unless `allow_other_model`.
  FakeQuantModel(const std::string& model_path, const CalibrationResult& calib, int64_t batch_size,
                 bool allow_other_model = false);
  ~FakeQuantModel();

  struct Output {
    Tensor quantized_logits, float_logits;
  };
  // Runs the reparameterized float graph and the quantized one on `images` (N ≤ batch size), and,
  // if `errors` is given, accumulates per-tensor SQNR terms into it (one entry per activation).
  Output run(const Tensor& images, std::vector<LayerError>* errors = nullptr);
  // Only the quantized logits.
  Tensor run_quantized(const Tensor& images);

  std::vector<LayerError> empty_errors() const;
  int64_t batch_size() const { return batch_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t batch_;
  int64_t model_batch_ = 0;  // the graph's batch: batch_, or the model's own fixed batch
};

}  // namespace qvit
