#pragma once
// Batches of preprocessed samples from a Dataset, for calibration and evaluation: samples are
// visited in a fixed order (all of them, the first `limit`, or a given index list such as a
// calibration subset), decoded in parallel, and returned in that order, so runs are
// deterministic whatever the thread count.
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "ir/tensor.h"

namespace qvit::data {

struct Batch {
  Tensor images;                  // float32 [N, C, H, W] ([N, H, W, C] for NHWC configs)
  std::vector<int64_t> labels;    // N
  std::vector<std::string> ids;   // N, see Dataset::id
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

struct BatchLoaderOptions {
  int64_t batch_size = 32;
  // Visit only the first `limit` samples of the order (< 0: all).
  int64_t limit = -1;
  // Skip images that cannot be decoded (BadImageError): each is logged with spdlog::warn and
  // counted. Without it, the first bad image (in visiting order) throws its BadImageError.
  bool skip_bad = false;
  int num_threads = 2;
  // Classes the preprocessing config declares (0: unknown): evaluation warns when the model's
  // output width differs.
  int64_t num_classes = 0;
};

class BatchLoader {
 public:
  // Visits samples 0, 1, ..., size - 1. The dataset must outlive the loader.
  BatchLoader(const Dataset& dataset, BatchLoaderOptions options);
  // Visits the given sample indices in the given order (e.g. from select_first_per_class).
  BatchLoader(const Dataset& dataset, std::vector<int64_t> indices, BatchLoaderOptions options);

  // Samples to visit (after the limit), and batches if none were skipped.
  int64_t num_samples() const { return static_cast<int64_t>(order_.size()); }
  const BatchLoaderOptions& options() const { return options_; }
  int64_t num_batches() const;
  // Samples visited so far (loaded or skipped), for progress reports.
  int64_t position() const { return position_; }

  // Fills `batch` with the next up-to-batch_size samples; false once every sample was visited.
  // With skip_bad a batch holds fewer samples when some were skipped (never zero).
  bool next(Batch& batch);
  // Rewinds to the first sample and forgets the skipped ones.
  void reset() {
    position_ = 0;
    skipped_ids_.clear();
  }

  int64_t num_skipped() const { return static_cast<int64_t>(skipped_ids_.size()); }
  const std::vector<std::string>& skipped_ids() const { return skipped_ids_; }

 private:
  const Dataset& dataset_;
  std::vector<int64_t> order_;
  BatchLoaderOptions options_;
  int64_t position_ = 0;
  std::vector<std::string> skipped_ids_;
  std::vector<float> scratch_;  // batch_size decoded samples, before dropping skipped ones
};

}  // namespace qvit::data
