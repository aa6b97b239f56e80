#pragma once
// Plain 8-bit images as the data loader passes them between decoding, resampling and
// normalization, and the error type for one unusable image. No OpenCV types here: only the
// .cc files of src/data may see cv::.
#include <cstdint>
#include <string>
#include <vector>

#include "util/error.h"

namespace qvit::data {

// Interleaved (HWC) 8-bit image with 1 channel (PIL mode "L") or 3 channels (PIL mode "RGB").
struct ImageU8 {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels, row-major, channels interleaved

  ImageU8() = default;
  ImageU8(int h, int w, int c) : height(h), width(w), channels(c), pixels(size_t(h) * w * c, 0) {}

  uint8_t* row(int y) { return pixels.data() + size_t(y) * width * channels; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * channels; }
  uint8_t& at(int y, int x, int c) { return pixels[(size_t(y) * width + x) * channels + c]; }
  uint8_t at(int y, int x, int c) const { return pixels[(size_t(y) * width + x) * channels + c]; }
};

// Resampling filters, named and defined as in PIL (Image.Resampling).
enum class Interpolation { Nearest, Bilinear, Bicubic };

const char* interpolation_name(Interpolation f);

// One image that cannot be used (missing, unreadable, corrupt, unsupported pixel format). The
// message names the file. BatchLoader's skip_bad option skips exactly these; every other
// qvit::Error (e.g. a config that does not fit the data) still stops the run.
class BadImageError : public qvit::Error {
 public:
  explicit BadImageError(const std::string& what) : qvit::Error(what) {}
};

}  // namespace qvit::data
