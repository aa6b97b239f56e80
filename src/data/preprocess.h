#pragma once
// Preprocessing of one decoded image into the model's float input, reproducing torchvision's
// standard PIL pipeline for a PreprocessConfig:
//   Resize(n, interpolation) → CenterCrop(h, w) → ToTensor() → Normalize(mean, std)
// Resize uses resize_like_pil (bit-exact with PIL); the float steps are evaluated in float32 in
// torchvision's order, ((u / pixel_scale) - mean) / std, so outputs match torchvision exactly
// for the same decoded pixels.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/preprocess_config.h"
#include "ir/tensor.h"

namespace qvit::data {

struct ImageSize {
  int height = 0;
  int width = 0;
  bool operator==(const ImageSize&) const = default;
};

// torchvision Resize(int) size rule: the shorter side becomes `shorter`, the longer side
// int(shorter * long / short) (truncated); for a square image both sides become `shorter`.
ImageSize shorter_side_resize(ImageSize in, int shorter);

// torchvision CenterCrop: zero-pads when the crop is larger than the image (left/top padding
// (crop - size) // 2), then crops at top = int(round((H - h) / 2.0)) with Python's round
// (half to even), likewise for left.
ImageU8 center_crop_like_torchvision(const ImageU8& image, CropSize crop);

class Preprocessor {
 public:
  explicit Preprocessor(PreprocessConfig config);

  const PreprocessConfig& config() const { return config_; }
  // One preprocessed image: [C, H, W] for NCHW configs, [H, W, C] for NHWC.
  const Shape& sample_shape() const { return sample_shape_; }
  int64_t sample_numel() const { return shape_numel(sample_shape_); }

  // Preprocesses `image` (which must already have config().channels channels) into
  // sample_numel() floats at dst. `name` identifies the image in errors (an image whose
  // preprocessed size is not the model input size is a qvit::Error).
  void run(const ImageU8& image, float* dst, const std::string& name) const;

  // Decodes the file as PIL would (see image_decode.h), then run().
  void run_file(const std::filesystem::path& path, float* dst) const;

 private:
  PreprocessConfig config_;
  Shape sample_shape_;
  // normalized_[c * 256 + u]: the float torchvision produces for byte u of channel c.
  std::vector<float> normalized_;
};

}  // namespace qvit::data
