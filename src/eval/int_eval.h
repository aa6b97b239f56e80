#pragma once
// Accuracy of the integer-only model, against the fake-quant simulation it implements and the
// float model: top-1/top-5, the two top-1 agreements, and the truncation ratio of every integer
// kernel (MLSys'23 Table 1), per layer and per kernel type.
#include <nlohmann/json.hpp>
#include <string>

#include "calib/calibration_result.h"
#include "data/batch_loader.h"
#include "eval/classification.h"
#include "intgraph/lower.h"

namespace qvit {

struct IntEvaluation {
  ClassificationResult integer;
  double agreement_fake_quant = 0;  // % of images where integer and fake-quant top-1 agree
  double agreement_float = 0;
  double fake_quant_top1 = 0, float_top1 = 0;
  NonlinearFamily family = NonlinearFamily::Int32Safe;
  struct Truncations {
    std::string name, op;
    uint64_t events = 0, elements = 0;
    double ratio() const { return elements ? double(events) / double(elements) : 0.0; }
  };
  std::vector<Truncations> per_layer;   // per integer node that counts
  std::vector<Truncations> per_kernel;  // summed per op type
  std::vector<KernelBoundRecord> bounds;
  nlohmann::json to_json() const;
};

IntEvaluation evaluate_integer(const std::string& model_path, const CalibrationResult& calib, data::BatchLoader& loader,
                               int64_t batch_size, const LoweringOptions& options, bool progress);

}  // namespace qvit
