#include "eval/classification.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

#include "util/progress.h"

namespace qvit {

double ClassificationResult::images_per_second() const {
  if (seconds <= 0 || samples <= 0) return 0;
  const double v = static_cast<double>(samples) / seconds;
  const double unit = std::pow(10.0, std::floor(std::log10(v)) - 2);
  return std::round(v / unit) * unit;
}

nlohmann::json ClassificationResult::to_json() const {
  auto round3 = [](double v) { return std::round(v * 1000.0) / 1000.0; };
  return {{"top1", round3(top1())},
          {"top5", round3(top5())},
          {"samples", samples},
          {"correct_top1", correct_top1},
          {"correct_top5", correct_top5},
          {"skipped", skipped},
          {"skipped_examples", skipped_examples},
          {"seconds", round3(seconds)},
          {"images_per_second", images_per_second()}};
}

std::vector<int64_t> argmax_rows(const Tensor& logits) {
  if (logits.rank() != 2) throw Error("expected logits of shape [N, classes], got " + shape_str(logits.shape()));
  const int64_t n = logits.shape()[0], c = logits.shape()[1];
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data<float>() + i * c;
    out[i] = std::max_element(row, row + c) - row;
  }
  return out;
}

ClassificationResult evaluate_classifier(const Classifier& model, data::BatchLoader& loader, bool progress) {
  ClassificationResult r;
  ProgressBar bar("eval", loader.num_samples(), progress);
  data::Batch batch;
  const auto t0 = std::chrono::steady_clock::now();
  while (loader.next(batch)) {
    const Tensor logits = model(batch.images);
    if (logits.rank() != 2 || logits.shape()[0] != batch.size())
      throw Error("model output has shape " + shape_str(logits.shape()) + ", expected [" + std::to_string(batch.size()) + ", classes]");
    const int64_t c = logits.shape()[1];
    if (r.samples == 0 && loader.options().num_classes > 0 && c != loader.options().num_classes)
      spdlog::warn("the model outputs {} logits per image but the config declares {} classes; top-1/top-5 run over all {} "
                   "outputs (check the model's head or the config's num_classes)",
                   c, loader.options().num_classes, c);
    for (int64_t i = 0; i < batch.size(); ++i) {
      const float* row = logits.data<float>() + i * c;
      const int64_t label = batch.labels[i];
      if (label < 0 || label >= c)
        throw Error(batch.ids[i] + ": label " + std::to_string(label) + " is outside the model's " + std::to_string(c) + " classes");
      // Rank of the true class: how many logits beat it (ties broken toward lower index, as topk).
      int64_t better = 0;
      for (int64_t k = 0; k < c; ++k)
        if (row[k] > row[label] || (row[k] == row[label] && k < label)) ++better;
      r.correct_top1 += better == 0;
      r.correct_top5 += better < 5;
      r.predictions.push_back(std::max_element(row, row + c) - row);
      r.labels.push_back(label);
    }
    r.samples += batch.size();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.update(loader.position(), fmt::format("top-1 {:.2f}%  {:.0f} img/s", r.top1(), s > 0 ? r.samples / s : 0.0));
  }
  bar.finish();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.skipped = loader.num_skipped();
  r.skipped_examples = loader.skipped().examples();
  r.first_skip_reason = loader.skipped().first_reason();
  if (r.skipped) r.skip_summary = loader.skipped().summary(loader.position());
  return r;
}

}  // namespace qvit
