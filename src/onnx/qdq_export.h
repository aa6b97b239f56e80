#pragma once
// Standard-ONNX QDQ export of a calibrated model, for ONNX Runtime / TensorRT users: the
// reparameterized float graph with each quantized weight stored as int8/uint8 behind a per-channel
// DequantizeLinear, and each calibrated activation point as a QuantizeLinear → DequantizeLinear pair.
// The IR's fused ops go back to opset-17 ONNX (Linear → MatMul + Add, LayerNorm →
// LayerNormalization, Gelu → its erf form). What QDQ cannot express (log-√2 softmax points; the
// clamp of < 8-bit activations, emulated with a Clip) is stated in the "qvit.qdq.notes" metadata.
#include <string>
#include <vector>

#include "calib/calibration_result.h"
#include "ir/graph.h"

namespace qvit {

inline constexpr const char* kQdqFormat = "qvit.qdq/1";

struct QdqExportSummary {
  size_t weights = 0, activation_points = 0;
  std::vector<std::string> notes;  // also logged as warnings and stored in the metadata
};

// `g`: the float graph with the calibration's reparameterizations applied (load_reparameterized).
// With `at_batch_2` (the same, imported at batch 2, and `g` at batch 1) the export has a dynamic
// batch: dimensions and shape constants that differ between the two are written as functions of
// N = Shape(input)[0] (shape arithmetic is affine in N; a constant repeated over the batch becomes
// an Expand of one row). Anything else that depends on the batch is an error asking for --batch.
QdqExportSummary save_qdq_onnx(const Graph& g, const CalibrationResult& calib, const std::string& path,
                               const Graph* at_batch_2 = nullptr);

}  // namespace qvit
