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
  // Skip images that cannot be decoded (BadImageError): the first few are logged with
  // spdlog::warn, all are counted (see SkippedImages). Without it, the first bad image (in
  // visiting order) throws its BadImageError.
  bool skip_bad = false;
  int num_threads = 2;
  // Classes the preprocessing config declares (0: unknown): evaluation warns when the model's
  // output width differs.
  int64_t num_classes = 0;
};

// The images a run skipped as unreadable. Only the first `logged` are logged one by one (as
// "<prefix><file>: <reason>" warnings): a folder of 100k broken files must not print 100k lines.
// The caller ends the run with summary(), or with an error when nothing was usable.
class SkippedImages {
 public:
  static constexpr int kLogged = 3;    // skips logged individually
  static constexpr int kExamples = 5;  // ids kept for summaries and JSON

  explicit SkippedImages(std::string log_prefix, int logged = kLogged) : prefix_(std::move(log_prefix)), logged_(logged) {}

  // Records one skipped image; `message` is its BadImageError text ("<file>: <reason>").
  void add(const std::string& id, const std::string& message);
  void clear();

  int64_t count() const { return static_cast<int64_t>(ids_.size()); }
  const std::vector<std::string>& ids() const { return ids_; }
  // The first kExamples ids.
  std::vector<std::string> examples() const;
  // The first skipped image's message, "" if none.
  const std::string& first_reason() const { return first_reason_; }
  // "skipped N unreadable image(s) of M; first: <file>: <reason>; then <file>, <file> and K more".
  std::string summary(int64_t visited) const;

 private:
  std::string prefix_;
  int logged_;
  std::vector<std::string> ids_;
  std::string first_reason_;
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
    skipped_.clear();
  }

  int64_t num_skipped() const { return skipped_.count(); }
  const std::vector<std::string>& skipped_ids() const { return skipped_.ids(); }
  const SkippedImages& skipped() const { return skipped_; }

 private:
  const Dataset& dataset_;
  std::vector<int64_t> order_;
  BatchLoaderOptions options_;
  int64_t position_ = 0;
  SkippedImages skipped_{"skipping bad image: "};
  std::vector<float> scratch_;  // batch_size decoded samples, before dropping skipped ones
};

}  // namespace qvit::data
