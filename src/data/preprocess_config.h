#pragma once
// The model config ("qvit.config/1" JSON): which ONNX model, its input geometry, and the
// torchvision-style preprocessing (Resize → CenterCrop → ToTensor → Normalize) its images need.
// Loading validates every field; a bad file is one qvit::Error line:
//   <file>: field "<name>": <problem>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/image.h"

namespace qvit::data {

inline constexpr const char* kPreprocessConfigFormat = "qvit.config/1";

enum class Layout { NCHW, NHWC };

struct CropSize {
  int height = 0;
  int width = 0;
  bool operator==(const CropSize&) const = default;
};

struct PreprocessConfig {
  std::string name;
  // File names of the models this config is for ("model": a string or an array of strings), as
  // written in the file; a model finds its config by file name.
  std::vector<std::string> models;

  // Model input, per image.
  int channels = 0;  // 1 (PIL "L") or 3 (PIL "RGB")
  int height = 0;
  int width = 0;
  Layout layout = Layout::NCHW;

  // torchvision transforms.Resize(int): the shorter side becomes `resize`.
  std::optional<int> resize;
  // torchvision transforms.CenterCrop; an int n in the file means n x n.
  std::optional<CropSize> center_crop;
  Interpolation interpolation = Interpolation::Bilinear;

  // ToTensor divides by pixel_scale (255 for torchvision), then Normalize(mean, std) per channel.
  double pixel_scale = 255.0;
  std::vector<double> mean;
  std::vector<double> std;

  int num_classes = 0;
  std::vector<std::string> class_names;  // empty, or num_classes names

  std::string default_data;
  std::string default_split;
  std::string default_calib;
};

// Reads and validates a config file. Throws qvit::Error naming the file and the field.
PreprocessConfig load_preprocess_config(const std::filesystem::path& path);

// Same, from JSON text; `source` names the text in error messages (usually its file name).
PreprocessConfig parse_preprocess_config(const std::string& json_text, const std::string& source);

const char* layout_name(Layout l);

}  // namespace qvit::data
