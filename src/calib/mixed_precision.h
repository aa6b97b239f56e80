#pragma once
// Mixed-precision calibration (recipes with an "allocation" block): score the layers of
// find_allocation_layers (calib/importance.h), allocate widths within the budget
// (calib/bit_allocator.h), and record both in the CalibrationResult. The widths reach the
// quantization plan (plan_quantization's AllocatedBitsMap), so lowering, the integer runtime and
// export use them unchanged.
#include <string>
#include <vector>

#include "calib/calibration_result.h"
#include "calib/quant_plan.h"
#include "data/dataset.h"

namespace qvit {

// `g`: the imported float graph at the calibration batch (not yet reparameterized); `indices`:
// the calibration images. Fills result.importance and result.allocation.
AllocatedBitsMap allocate_mixed_precision(const std::string& model_path, const Graph& g, const data::Dataset& dataset,
                                          const std::vector<int64_t>& indices, const Recipe& recipe, bool progress,
                                          CalibrationResult& result);
// Writes the widths the plan gave each allocated layer (a grid shared by layers takes the widest
// reader's) into result.allocation, with the achieved averages.
void record_planned_widths(const Graph& g, const QuantPlan& plan, CalibrationResult& result);

}  // namespace qvit
