#pragma once
// Accuracy of the fake-quant simulation, with what a user needs to judge it: top-1 agreement
// with the float model on the same images and the SQNR of every quantized tensor.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "calib/calibration_result.h"
#include "data/batch_loader.h"
#include "eval/classification.h"
#include "runtime/fake_quant_model.h"

namespace qvit {

struct FakeQuantEvaluation {
  ClassificationResult quantized;
  double agreement = 0;  // % of images where quantized and float top-1 agree
  std::vector<LayerError> layers;
  nlohmann::json to_json() const;  // ClassificationResult fields + "agreement" + "layers"
};

FakeQuantEvaluation evaluate_fake_quant(const std::string& model_path, const CalibrationResult& calib,
                                        data::BatchLoader& loader, int64_t batch_size, bool progress);

}  // namespace qvit
