#pragma once
// Top-1/top-5 evaluation of a classifier over a dataset, in dataset order.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/batch_loader.h"
#include "ir/tensor.h"

namespace qvit {

struct ClassificationResult {
  int64_t samples = 0;
  int64_t correct_top1 = 0;
  int64_t correct_top5 = 0;
  int64_t skipped = 0;                       // unreadable images skipped (--skip-bad)
  std::vector<std::string> skipped_examples;  // the first few of them
  std::string skip_summary;                   // SkippedImages::summary, "" if none were skipped
  std::string first_skip_reason;              // "<file>: <reason>" of the first one
  double seconds = 0;
  std::vector<int64_t> predictions;  // top-1 class per evaluated sample
  std::vector<int64_t> labels;

  double top1() const { return samples ? 100.0 * static_cast<double>(correct_top1) / static_cast<double>(samples) : 0; }
  double top5() const { return samples ? 100.0 * static_cast<double>(correct_top5) / static_cast<double>(samples) : 0; }
  // Rounded to 3 significant digits: the runs this is measured over vary more than that.
  double images_per_second() const;
  nlohmann::json to_json() const;
};

// Model: logits [N, classes] for a batch of images [N, ...].
using Classifier = std::function<Tensor(const Tensor& images)>;

ClassificationResult evaluate_classifier(const Classifier& model, data::BatchLoader& loader, bool progress);

// Top-1 class of each row of logits [N, C] (first index on ties, as torch.argmax).
std::vector<int64_t> argmax_rows(const Tensor& logits);

}  // namespace qvit
