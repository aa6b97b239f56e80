#include "eval/fake_quant_eval.h"

#include <cmath>

namespace qvit {

nlohmann::json FakeQuantEvaluation::to_json() const {
  nlohmann::json j = quantized.to_json();
  j["agreement"] = std::round(agreement * 1000.0) / 1000.0;
  nlohmann::json ls = nlohmann::json::array();
  for (const auto& e : layers)
    ls.push_back({{"name", e.name}, {"role", e.role}, {"bits", e.bits}, {"sqnr_db", std::round(e.sqnr_db() * 100.0) / 100.0}});
  j["layers"] = ls;
  return j;
}

FakeQuantEvaluation evaluate_fake_quant(const std::string& model_path, const CalibrationResult& calib,
                                        data::BatchLoader& loader, int64_t batch_size, bool progress) {
  FakeQuantModel model(model_path, calib, batch_size);
  FakeQuantEvaluation ev;
  ev.layers = model.empty_errors();
  std::vector<int64_t> float_pred;
  ev.quantized = evaluate_classifier(
      [&](const Tensor& images) {
        FakeQuantModel::Output out = model.run(images, &ev.layers);
        for (int64_t p : argmax_rows(out.float_logits)) float_pred.push_back(p);
        return std::move(out.quantized_logits);
      },
      loader, progress);
  int64_t agree = 0;
  for (size_t i = 0; i < ev.quantized.predictions.size(); ++i) agree += ev.quantized.predictions[i] == float_pred[i];
  ev.agreement = ev.quantized.samples ? 100.0 * static_cast<double>(agree) / static_cast<double>(ev.quantized.samples) : 0.0;
  return ev;
}

}  // namespace qvit
