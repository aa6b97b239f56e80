#pragma once
// Lowering: calibrated float IR → IntGraph (int_ops.h), every parameter an integer computed here.
//
// Each integer value carries, at lowering time only, what real number one unit means: one scale
// (per tensor) or one per channel (accumulators of per-channel-quantized weights, along a tracked
// axis), and its worst-case magnitude. Linear/Conv give per-channel int32 accumulators; data
// movement carries them; at the calibration's quantization points (and wherever an op needs one
// scale) a dyadic QRequantize puts them on an activation grid — hoisted back over data movement and
// scalar Mul/Div so that the rounding happens exactly where fake-quant rounds. Softmax, GELU and
// LayerNorm become the integer kernels of the selected family; a worst-case bound is computed for
// every kernel (the int32 range proof) and recorded, and the int32-safe family refuses a layer whose
// bound exceeds int32.
//
// Boundaries (the only places a real number is touched, outside the graph): the input image is
// quantized to the input point's codes, the outputs are int32 with a real scale per channel.
#include <string>
#include <vector>

#include "calib/calibration_result.h"
#include "ir/graph.h"

namespace qvit {

enum class NonlinearFamily { Shift, Poly, Int32Safe };
const char* nonlinear_family_name(NonlinearFamily f);
NonlinearFamily nonlinear_family_from_name(const std::string& name);  // shift | poly | int32safe

struct LoweringOptions {
  NonlinearFamily family = NonlinearFamily::Int32Safe;
  int softmax_m_star = 19;  // int32safe softmax left shift for layers the calibration has no M* for
};

struct KernelBoundRecord {
  std::string node, kernel, stage;
  double worst_abs = 0;
  bool fits = true;
};

struct LoweredModel {
  Graph graph;          // the IntGraph
  QuantParams input;    // image → codes q; the graph input is q − zero_point
  struct OutputScale {
    std::vector<double> scales;  // one, or one per channel along `axis`
    int axis = -1;
  };
  std::vector<OutputScale> outputs;
  std::vector<KernelBoundRecord> bounds;  // the range proof, one record per kernel
  NonlinearFamily family = NonlinearFamily::Int32Safe;
};

// What parse_calibration_result cannot check without the model, checked against `g`: every tensor
// and node the calibration names exists and is of the right kind (weights: Linear/Conv with the
// right channel axis; softmax: Softmax), per-channel lists have one entry per output channel of the
// weight, a softmax's cols is its row length, no entry is duplicated, every quantizer is valid
// (quant_params_problem) and the model input's grid is uniform. lower_to_integer calls it first;
// other consumers of a calibration can too. Error: `<calib>: field "<path>": <problem> (model ...)`.
void check_calibration_against_graph(const Graph& g, const CalibrationResult& calib);

// `g` is the float graph with the calibration's reparameterizations already applied (its weights
// float; they are quantized here with the calibration's per-channel parameters).
LoweredModel lower_to_integer(const Graph& g, const CalibrationResult& calib, const LoweringOptions& options);

}  // namespace qvit
