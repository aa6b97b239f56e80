#pragma once
// JPEG decoding with libjpeg directly, so that libjpeg's warnings ("Corrupt JPEG data: 2
// extraneous bytes before marker 0xd9", ...) are qvit's: captured and reported once per file as a
// `warning:` line naming it, instead of bare lines on stderr from inside OpenCV. The settings are
// libjpeg's defaults (islow DCT, fancy upsampling), which OpenCV and PIL use too, so the pixels are
// the same.
#include <optional>
#include <span>
#include <string>

#include "data/image.h"

namespace qvit::data {

// The image in PIL's mode "L" (grayscale JPEGs) or "RGB"; nullopt for color spaces left to the
// general decoder (CMYK/YCCK). Throws BadImageError naming `name` for a JPEG libjpeg rejects.
std::optional<ImageU8> decode_jpeg(std::span<const uint8_t> data, const std::string& name);

}  // namespace qvit::data
