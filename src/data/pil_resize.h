#pragma once
// Image resizing that reproduces PIL's Image.resize bit for bit (Pillow's libImaging
// Resample.c and, for NEAREST, Geometry.c), because torchvision's Resize on PIL images is what
// the models were trained and evaluated with, and cv::resize differs from it (no antialiasing
// when downscaling, different rounding).
//
// PIL's bilinear/bicubic resampling, restated:
//  - separable: a horizontal pass into an 8-bit temporary image, then a vertical pass, each pass
//    rounding and clamping to uint8; a pass is skipped when that side keeps its size;
//  - output pixel i samples the input around center = (i + 0.5) * scale, scale = in / out;
//    when downscaling (scale > 1) the filter is stretched by `scale` (support = support * scale),
//    which is the antialiasing; taps are the input pixels in [center - support, center + support)
//    rounded, weights filter((j - center + 0.5) / max(scale, 1)) normalized to sum 1;
//  - weights become fixed point with 22 fractional bits (round half away from zero); a pixel is
//    (sum(w_j * p_j) + 2^21) >> 22, clamped to [0, 255] (int32 accumulation cannot overflow:
//    22 + 8 bits plus 2 bits of headroom for the negative lobes of bicubic);
//  - bilinear is the triangle filter (support 1), bicubic Keys' cubic with a = -0.5 (support 2).
// NEAREST takes, for output x, input floor(x0 + k * scale) with x0 = scale / 2 accumulated in
// double precision exactly like PIL, so ties land on the same pixel.
#include "data/image.h"

namespace qvit::data {

// Resizes to out_height x out_width (both > 0) as PIL's `img.resize((out_width, out_height), f)`.
ImageU8 resize_like_pil(const ImageU8& src, int out_height, int out_width, Interpolation filter);

}  // namespace qvit::data
