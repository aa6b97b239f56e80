#pragma once
// Decoding image files (JPEG, PNG, BMP, WebP, TIFF, PPM/PGM via OpenCV) into the 8-bit pixels
// PIL would hold after `Image.open(path).convert("RGB")` (channels = 3) or `.convert("L")`
// (channels = 1), which is what torchvision's datasets feed their transforms:
//  - color images come out RGB (OpenCV's BGR order is swapped back); alpha is dropped
//    (PIL's RGBA→RGB conversion ignores alpha, it does not composite);
//  - gray → RGB replicates the gray value;
//  - RGB → L is ITU-R 601-2 luma in PIL's 16-bit fixed point:
//    L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16;
//  - 16-bit PNG/TIFF is converted as Pillow 9 does, not rejected: 16-bit color keeps the high
//    byte of each sample; 16-bit grayscale opens in PIL mode "I", whose conversion clamps values
//    to [0, 255] (so most of a 16-bit gray image saturates to white, exactly as in torchvision);
//  - EXIF orientation is ignored, as PIL's Image.open does.
// A missing, unreadable, truncated or corrupt file throws BadImageError naming it.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "data/image.h"

namespace qvit::data {

ImageU8 decode_image_file(const std::filesystem::path& path, int channels);

// Decodes an encoded image held in memory; `name` identifies it in errors.
ImageU8 decode_image_bytes(std::span<const uint8_t> encoded, int channels, const std::string& name);

// PIL's convert("L") / convert("RGB") between 1- and 3-channel 8-bit images (no-op if equal).
ImageU8 convert_channels(ImageU8 image, int channels);

}  // namespace qvit::data
