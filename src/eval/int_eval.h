#pragma once
// Accuracy of the integer-only model, against the fake-quant simulation it implements and the
// float model: top-1/top-5, the two top-1 agreements, and the truncation ratio of every integer
// kernel (MLSys'23 Table 1), per layer and per kernel type.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "calib/calibration_result.h"
#include "data/batch_loader.h"
#include "eval/classification.h"
#include "intgraph/int_ops.h"
#include "intgraph/lower.h"
#include "runtime/int_model.h"

namespace qvit {

// Truncation counts of integer runs (MLSys'23 Table 1), per integer node and summed per op type.
struct TruncationReport {
  struct Count {
    std::string name, op;
    uint64_t events = 0, elements = 0;
    double ratio() const { return elements ? double(events) / double(elements) : 0.0; }
  };
  std::vector<Count> per_layer, per_kernel;
  // {"truncation_per_kernel": [...], "truncation_per_layer": [...]}
  nlohmann::json to_json() const;
  void log_nonzero() const;  // one warning line per kernel type that truncated
  uint64_t total_events() const;
};
// `merged`: (node, node computing its values) pairs of the runtime (IntModel::merged_nodes).
TruncationReport truncation_report(const Graph& int_graph, const IntRunStats& stats,
                                   const std::vector<std::pair<std::string, std::string>>& merged = {});

struct IntEvaluation {
  ClassificationResult integer;
  bool compared = false;  // the fake-quant and float models ran too: the four fields below are set
  double agreement_fake_quant = 0;  // % of images where integer and fake-quant top-1 agree
  double agreement_float = 0;
  double fake_quant_top1 = 0, float_top1 = 0;
  NonlinearFamily family = NonlinearFamily::Int32Safe;
  TruncationReport truncations;
  std::vector<KernelBoundRecord> bounds;
  nlohmann::json to_json() const;
};

// The model is lowered for `batch_size` images; the loader's batches may hold several such chunks
// (IntModel::run runs them side by side, one per thread).
// `compare`: also run the fake-quant simulation and the float model on every batch (three forward
// passes instead of one) for the agreements and their top-1; without it only the integer model runs.
IntEvaluation evaluate_integer(const std::string& model_path, const CalibrationResult& calib, data::BatchLoader& loader,
                               int64_t batch_size, const LoweringOptions& options, bool progress, bool compare = true);
// The same on a model already lowered (any batch: see lower_for_evaluation).
IntEvaluation evaluate_integer(IntModel& model, const std::string& model_path, const CalibrationResult& calib,
                               data::BatchLoader& loader, int64_t batch_size, bool progress, bool compare);

// The integer model for evaluating `batch` images per call: lowered for one image first, then, if
// its activations are small, for IntModel::side_by_side_chunk_rows(batch) images (cheap for such a
// model), whose chunks run side by side. The loader should then take loader_batch() images.
std::unique_ptr<IntModel> lower_for_evaluation(const std::string& model_path, const CalibrationResult& calib,
                                               int64_t batch, const LoweringOptions& options);
// Images per call for `model` when the user asked for `batch`: one chunk per thread when chunks run
// side by side (at least `batch`), else `batch`.
int64_t loader_batch(const IntModel& model, int64_t batch);

}  // namespace qvit
