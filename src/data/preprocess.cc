#include "data/preprocess.h"

#include <cstring>

#include "data/image_decode.h"
#include "data/pil_resize.h"

namespace qvit::data {
namespace {

// Python's round(d / 2.0) for an integer d >= 0: halves go to the even neighbour.
int half_rounded_to_even(int d) {
  const int floor_half = d / 2;
  if (d % 2 == 0) return floor_half;
  return floor_half % 2 == 0 ? floor_half : floor_half + 1;
}

std::string size_str(int h, int w) { return std::to_string(h) + "x" + std::to_string(w); }

}  // namespace

ImageSize shorter_side_resize(ImageSize in, int shorter) {
  QVIT_CHECK(in.height > 0 && in.width > 0 && shorter > 0, "shorter_side_resize: sizes must be positive");
  const bool width_is_short = in.width <= in.height;
  const int64_t short_side = width_is_short ? in.width : in.height;
  const int64_t long_side = width_is_short ? in.height : in.width;
  // Python: int(shorter * long / short): an exact integer product, a correctly rounded double
  // quotient, then truncation; the same operations in C++ give the same result.
  const int new_long = static_cast<int>(static_cast<double>(shorter * long_side) / static_cast<double>(short_side));
  return width_is_short ? ImageSize{new_long, shorter} : ImageSize{shorter, new_long};
}

ImageU8 center_crop_like_torchvision(const ImageU8& image, CropSize crop) {
  QVIT_CHECK(crop.height > 0 && crop.width > 0, "center_crop: empty crop");
  const ImageU8* src = &image;
  ImageU8 padded;
  if (crop.width > image.width || crop.height > image.height) {
    const int pad_left = crop.width > image.width ? (crop.width - image.width) / 2 : 0;
    const int pad_top = crop.height > image.height ? (crop.height - image.height) / 2 : 0;
    const int pad_right = crop.width > image.width ? (crop.width - image.width + 1) / 2 : 0;
    const int pad_bottom = crop.height > image.height ? (crop.height - image.height + 1) / 2 : 0;
    padded = ImageU8(image.height + pad_top + pad_bottom, image.width + pad_left + pad_right, image.channels);
    for (int y = 0; y < image.height; ++y)
      std::memcpy(padded.row(y + pad_top) + static_cast<size_t>(pad_left) * image.channels, image.row(y),
                  static_cast<size_t>(image.width) * image.channels);
    if (padded.height == crop.height && padded.width == crop.width) return padded;
    src = &padded;
  }
  const int top = half_rounded_to_even(src->height - crop.height);
  const int left = half_rounded_to_even(src->width - crop.width);
  ImageU8 out(crop.height, crop.width, src->channels);
  for (int y = 0; y < crop.height; ++y)
    std::memcpy(out.row(y), src->row(top + y) + static_cast<size_t>(left) * src->channels,
                static_cast<size_t>(crop.width) * src->channels);
  return out;
}

Preprocessor::Preprocessor(PreprocessConfig config) : config_(std::move(config)) {
  const int c = config_.channels;
  QVIT_CHECK(c == 1 || c == 3, "Preprocessor: channels must be 1 or 3");
  QVIT_CHECK(static_cast<int>(config_.mean.size()) == c && static_cast<int>(config_.std.size()) == c,
             "Preprocessor: mean/std must have one value per channel");
  sample_shape_ = config_.layout == Layout::NCHW ? Shape{c, config_.height, config_.width}
                                                 : Shape{config_.height, config_.width, c};
  // torchvision: ToTensor is float32(u) / 255 (true division), Normalize is (x - mean) / std
  // with mean and std converted to float32 tensors; each step rounds to float32.
  const float scale = static_cast<float>(config_.pixel_scale);
  normalized_.resize(static_cast<size_t>(c) * 256);
  for (int ch = 0; ch < c; ++ch) {
    const float mean = static_cast<float>(config_.mean[ch]);
    const float stddev = static_cast<float>(config_.std[ch]);
    for (int u = 0; u < 256; ++u) {
      const float x = static_cast<float>(u) / scale;
      normalized_[ch * 256 + u] = (x - mean) / stddev;
    }
  }
}

void Preprocessor::run(const ImageU8& image, float* dst, const std::string& name) const {
  QVIT_CHECK(image.channels == config_.channels, "Preprocessor::run: image has the wrong number of channels");
  const ImageU8* current = &image;
  ImageU8 resized, cropped;
  if (config_.resize) {
    const ImageSize target = shorter_side_resize({current->height, current->width}, *config_.resize);
    if (target.height != current->height || target.width != current->width) {
      resized = resize_like_pil(*current, target.height, target.width, config_.interpolation);
      current = &resized;
    }
  }
  if (config_.center_crop) {
    cropped = center_crop_like_torchvision(*current, *config_.center_crop);
    current = &cropped;
  }
  if (current->height != config_.height || current->width != config_.width) {
    throw qvit::Error(name + ": image is " + size_str(image.height, image.width) + ", " +
                      size_str(current->height, current->width) +
                      " after preprocessing, but the model input is " + size_str(config_.height, config_.width) +
                      " (set \"resize\"/\"center_crop\" in the config)");
  }

  const int channels = config_.channels;
  const size_t plane = static_cast<size_t>(config_.height) * config_.width;
  const uint8_t* px = current->pixels.data();
  if (config_.layout == Layout::NHWC) {
    for (size_t i = 0; i < plane; ++i)
      for (int c = 0; c < channels; ++c) dst[i * channels + c] = normalized_[c * 256 + px[i * channels + c]];
  } else {
    for (int c = 0; c < channels; ++c) {
      const float* lut = &normalized_[c * 256];
      float* out = dst + c * plane;
      for (size_t i = 0; i < plane; ++i) out[i] = lut[px[i * channels + c]];
    }
  }
}

void Preprocessor::run_file(const std::filesystem::path& path, float* dst) const {
  run(decode_image_file(path, config_.channels), dst, path.string());
}

}  // namespace qvit::data
