#pragma once
// Calibration data without labels, as ModelOpt and ONNX Runtime users bring it: a flat folder of
// images (preprocessed by the config like any other image), or a .npy array [N, ...] of inputs
// already preprocessed for the model (used as they are). Every label is -1; only `calibrate`
// accepts them (DatasetOptions::allow_unlabelled).
#include <filesystem>
#include <memory>

#include "data/dataset.h"

namespace qvit::data {

// Images directly in `dir` (no class subfolders), in file-name order.
std::unique_ptr<Dataset> open_flat_image_folder(const std::filesystem::path& dir, const PreprocessConfig& config);
// A float32 .npy of preprocessed inputs, one sample per leading index.
std::unique_ptr<Dataset> open_npy_inputs(const std::filesystem::path& file);

}  // namespace qvit::data
