#pragma once
// Calibration (`qvit calibrate`): runs the float model over the calibration images, observes every
// tensor of the QuantPlan and decides all quantizers. Passes over the (few dozen) images:
//   1. channel-wise ranges of post-LayerNorm outputs, if the recipe reparameterizes them;
//   2. per-tensor ranges (min/max, or exact percentiles) of every activation point, on the
//      reparameterized graph;
//   3. histograms for the MSE search, if the recipe asks for it.
// Deterministic: the same images in the same order give byte-identical results.
#include <string>
#include <vector>

#include "calib/calibration_result.h"
#include "data/dataset.h"

namespace qvit {

struct CalibrateOptions {
  int64_t samples = 32;   // from the recipe unless overridden
  // Which images: class-balanced (round robin over the classes, each class's images in dataset
  // order) unless `first_n`, which takes the first N in dataset order.
  bool first_n = false;
  bool progress = true;
  // Skip undecodable images (each logged as a warning) and take the next candidates instead.
  bool skip_bad = false;
  // Images per forward pass; 0: the largest divisor of `samples` up to 32. Must divide `samples`
  // (a model exported with a fixed batch always runs at that batch instead).
  int64_t batch = 0;
};

CalibrationResult calibrate(const std::string& model_path, const data::Dataset& dataset, const Recipe& recipe,
                            const CalibrateOptions& options);

// Per-output-channel weight quantizer of a constant weight tensor (symmetric, min/max or MSE).
ChannelQuantParams quantize_weight_params(const Tensor& w, int axis, int bits, ObserverKind observer);

}  // namespace qvit
