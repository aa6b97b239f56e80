#pragma once
// The float graph a calibration applies to: imported at a fixed batch size, checked against the
// calibration's model hash, with its post-LayerNorm reparameterizations folded in. What fake-quant
// simulates and integer lowering starts from.
#include <string>

#include "calib/calibration_result.h"
#include "ir/graph.h"

namespace qvit {

// Refuses a calibration made for another model file unless `allow_other_model`.
Graph load_reparameterized(const std::string& model_path, const CalibrationResult& calib, int64_t batch_size,
                           bool allow_other_model);

}  // namespace qvit
