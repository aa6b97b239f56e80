#pragma once
// How a mixed-precision calibration spent its bits: for `qvit inspect MODEL --calib C` (a block ×
// layer table with each layer's widths and relative importance) and `qvit eval` (the same, and
// per-layer JSON).
#include <nlohmann/json.hpp>
#include <string>

#include "calib/calibration_result.h"

namespace qvit {

// {"scorer", "budget_bits", "weight_bits_avg", "activation_bits_avg", "exact", "note",
//  "layers": [{"layer", "kind", "block", "weight_bits", "activation_bits", "score", "relative"}]};
// null when the calibration has no allocation.
nlohmann::json allocation_summary(const CalibrationResult& c);
// The table; a one-line note when the calibration has no allocation (uniform widths).
std::string format_allocation_table(const CalibrationResult& c);

}  // namespace qvit
