#include "eval/int_eval.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <map>
#include <optional>

#include "runtime/fake_quant_model.h"
#include "runtime/int_model.h"
#include "util/thread_pool.h"

namespace qvit {

namespace {
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }
}  // namespace

TruncationReport truncation_report(const Graph& int_graph, const IntRunStats& stats,
                                   const std::vector<std::pair<std::string, std::string>>& merged) {
  std::map<std::string, std::string> op_of;
  for (const Node& node : int_graph.nodes) op_of.emplace(node.name, node.op);
  for (const auto& [node, kept] : merged)
    if (op_of.count(kept)) op_of.emplace(node, op_of.at(kept));
  TruncationReport r;
  std::map<std::string, TruncationReport::Count> kernels;
  for (const auto& [name, t] : stats.per_node) {
    const std::string op = op_of.count(name) ? op_of.at(name) : "?";
    r.per_layer.push_back({name, op, t.events, t.elements});
    auto& k = kernels[op];
    k.name = k.op = op;
    k.events += t.events;
    k.elements += t.elements;
  }
  for (auto& [op, t] : kernels) r.per_kernel.push_back(t);
  return r;
}

nlohmann::json TruncationReport::to_json() const {
  auto list = [](const std::vector<Count>& ts) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& t : ts)
      a.push_back({{"name", t.name}, {"op", t.op}, {"truncations", t.events}, {"elements", t.elements},
                   {"truncation_ratio", t.ratio()}});
    return a;
  };
  return {{"truncation_per_kernel", list(per_kernel)}, {"truncation_per_layer", list(per_layer)}};
}

uint64_t TruncationReport::total_events() const {
  uint64_t n = 0;
  for (const auto& k : per_kernel) n += k.events;
  return n;
}

void TruncationReport::log_nonzero() const {
  for (const auto& k : per_kernel)
    if (k.events)
      spdlog::warn("int32 truncations in {}: {} of {} outputs ({:.4f}%): the integer model saturated or divided to 0 there",
                   k.op, k.events, k.elements, 100.0 * k.ratio());
}

nlohmann::json IntEvaluation::to_json() const {
  nlohmann::json j = integer.to_json();
  j["nonlinear"] = nonlinear_family_name(family);
  j["compared"] = compared;
  if (compared) {
    j["agreement_fake_quant"] = round3(agreement_fake_quant);
    j["agreement_float"] = round3(agreement_float);
    j["fake_quant_top1"] = round3(fake_quant_top1);
    j["float_top1"] = round3(float_top1);
  }
  j.update(truncations.to_json());
  nlohmann::json b = nlohmann::json::array();
  for (const auto& r : bounds)
    b.push_back({{"node", r.node}, {"kernel", r.kernel}, {"stage", r.stage}, {"worst_abs", r.worst_abs}, {"fits_int32", r.fits}});
  j["int32_range_proof"] = b;
  return j;
}

std::unique_ptr<IntModel> lower_for_evaluation(const std::string& model_path, const CalibrationResult& calib,
                                               int64_t batch, const LoweringOptions& options) {
  auto one = std::make_unique<IntModel>(model_path, calib, 1, options);
  const int64_t rows = one->side_by_side_chunk_rows(batch);
  if (rows == 1) return one;
  one.reset();
  return std::make_unique<IntModel>(model_path, calib, rows, options);
}

int64_t loader_batch(const IntModel& model, int64_t batch) {
  if (!model.runs_chunks_side_by_side()) return std::max(batch, model.batch_size());
  return std::max(batch, model.batch_size() * num_threads());
}

IntEvaluation evaluate_integer(const std::string& model_path, const CalibrationResult& calib, data::BatchLoader& loader,
                               int64_t batch_size, const LoweringOptions& options, bool progress, bool compare) {
  IntModel model(model_path, calib, batch_size, options);
  return evaluate_integer(model, model_path, calib, loader, batch_size, progress, compare);
}

IntEvaluation evaluate_integer(IntModel& model, const std::string& model_path, const CalibrationResult& calib,
                               data::BatchLoader& loader, int64_t batch_size, bool progress, bool compare) {
  std::optional<FakeQuantModel> fake;
  if (compare) fake.emplace(model_path, calib, batch_size);
  IntEvaluation ev;
  ev.family = model.lowered().family;
  ev.bounds = model.lowered().bounds;
  ev.compared = compare;
  IntRunStats stats;
  std::vector<int64_t> fq_pred, float_pred;
  ev.integer = evaluate_classifier(
      [&](const Tensor& images) {
        if (fake) {
          FakeQuantModel::Output ref = fake->run(images);
          for (int64_t p : argmax_rows(ref.quantized_logits)) fq_pred.push_back(p);
          for (int64_t p : argmax_rows(ref.float_logits)) float_pred.push_back(p);
        }
        return model.run(images, &stats);
      },
      loader, progress);
  ev.truncations = truncation_report(model.lowered().graph, stats, model.merged_nodes());
  if (!compare) return ev;
  const auto& pred = ev.integer.predictions;
  int64_t agree_fq = 0, agree_float = 0, fq_correct = 0, float_correct = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    agree_fq += pred[i] == fq_pred[i];
    agree_float += pred[i] == float_pred[i];
    fq_correct += fq_pred[i] == ev.integer.labels[i];
    float_correct += float_pred[i] == ev.integer.labels[i];
  }
  const double n = static_cast<double>(std::max<int64_t>(ev.integer.samples, 1));
  ev.agreement_fake_quant = 100.0 * agree_fq / n;
  ev.agreement_float = 100.0 * agree_float / n;
  ev.fake_quant_top1 = 100.0 * fq_correct / n;
  ev.float_top1 = 100.0 * float_correct / n;
  return ev;
}

}  // namespace qvit
