#include "data/pil_resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// Bit-exactness with PIL depends on evaluating the filter and weight arithmetic below in plain
// double precision, operation by operation, as PIL's C code does. Do not build this file with
// -ffast-math; on targets with FMA, contraction could in principle change a weight by one unit
// of its last bit (the parity test in tests/unit/data_preprocess_test.cc would show it).

namespace qvit::data {

const char* interpolation_name(Interpolation f) {
  switch (f) {
    case Interpolation::Nearest: return "nearest";
    case Interpolation::Bilinear: return "bilinear";
    case Interpolation::Bicubic: return "bicubic";
  }
  return "?";
}

namespace {

// 8 bits of pixel, 2 bits of headroom for sums of weights above 1 (bicubic), 22 fractional bits.
constexpr int kWeightFractionBits = 32 - 8 - 2;

struct FilterKernel {
  double (*weight)(double x);
  double support;  // the kernel is zero outside (-support, support) at scale 1
};

double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Keys' cubic convolution kernel with a = -0.5, written in the same operation order as PIL.
double keys_cubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

constexpr FilterKernel kBilinear{triangle, 1.0};
constexpr FilterKernel kBicubic{keys_cubic, 2.0};

// Fixed-point weights of a 1-D resampling from in_size to out_size samples: output i is
// sum_j weight[i * taps + j] * input[first[i] + j] for j < count[i].
struct ResampleWeights {
  int taps = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weight;
};

ResampleWeights precompute_weights(int in_size, int out_size, const FilterKernel& kernel) {
  const double scale = static_cast<double>(in_size) / out_size;
  // Downscaling widens the kernel by the scale factor: that is PIL's antialiasing.
  const double filter_scale = std::max(scale, 1.0);
  const double support = kernel.support * filter_scale;
  const double inv_filter_scale = 1.0 / filter_scale;

  ResampleWeights w;
  w.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  w.first.resize(out_size);
  w.count.resize(out_size);
  w.weight.assign(static_cast<size_t>(out_size) * w.taps, 0);
  std::vector<double> k(w.taps);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    // (int) truncates like PIL's cast; the +0.5 makes it round for the non-negative values
    // that matter (negative ones are clamped to 0 right after).
    int lo = static_cast<int>(center - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = static_cast<int>(center + support + 0.5);
    if (hi > in_size) hi = in_size;
    const int n = hi - lo;
    double sum = 0.0;
    for (int j = 0; j < n; ++j) {
      k[j] = kernel.weight((j + lo - center + 0.5) * inv_filter_scale);
      sum += k[j];
    }
    for (int j = 0; j < n; ++j) {
      if (sum != 0.0) k[j] /= sum;
    }
    int32_t* fixed = &w.weight[static_cast<size_t>(i) * w.taps];
    for (int j = 0; j < n; ++j) {
      // Round half away from zero, as PIL's normalize_coeffs_8bpc.
      const double scaled = k[j] * (1 << kWeightFractionBits);
      fixed[j] = static_cast<int32_t>(k[j] < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    w.first[i] = lo;
    w.count[i] = n;
  }
  return w;
}

// Rounds away the fraction bits (the accumulator starts at one half) and saturates to uint8.
inline uint8_t clamp_to_u8(int32_t acc) {
  const int32_t v = acc >> kWeightFractionBits;  // arithmetic shift: floor division
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Horizontal pass over source rows [row_begin, row_end).
ImageU8 resample_rows(const ImageU8& src, int row_begin, int row_end, int out_width, const ResampleWeights& w) {
  const int channels = src.channels;
  ImageU8 out(row_end - row_begin, out_width, channels);
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* in = src.row(row_begin + y);
    uint8_t* dst = out.row(y);
    for (int x = 0; x < out_width; ++x) {
      const int32_t* k = &w.weight[static_cast<size_t>(x) * w.taps];
      const uint8_t* taps = in + static_cast<size_t>(w.first[x]) * channels;
      for (int c = 0; c < channels; ++c) {
        int32_t acc = 1 << (kWeightFractionBits - 1);
        for (int j = 0; j < w.count[x]; ++j) acc += taps[j * channels + c] * k[j];
        dst[x * channels + c] = clamp_to_u8(acc);
      }
    }
  }
  return out;
}

// Vertical pass; w.first is relative to the first row of `src`.
ImageU8 resample_columns(const ImageU8& src, int out_height, const ResampleWeights& w) {
  const size_t row_len = static_cast<size_t>(src.width) * src.channels;
  ImageU8 out(out_height, src.width, src.channels);
  std::vector<int32_t> acc(row_len);
  for (int y = 0; y < out_height; ++y) {
    const int32_t* k = &w.weight[static_cast<size_t>(y) * w.taps];
    std::fill(acc.begin(), acc.end(), 1 << (kWeightFractionBits - 1));
    for (int j = 0; j < w.count[y]; ++j) {
      const uint8_t* in = src.row(w.first[y] + j);
      const int32_t kj = k[j];
      for (size_t i = 0; i < row_len; ++i) acc[i] += in[i] * kj;
    }
    uint8_t* dst = out.row(y);
    for (size_t i = 0; i < row_len; ++i) dst[i] = clamp_to_u8(acc[i]);
  }
  return out;
}

ImageU8 resample_separable(const ImageU8& src, int out_height, int out_width, const FilterKernel& kernel) {
  const bool need_horizontal = out_width != src.width;
  const bool need_vertical = out_height != src.height;
  if (!need_horizontal && !need_vertical) return src;

  ResampleWeights vertical = precompute_weights(src.height, out_height, kernel);
  if (!need_horizontal) return resample_columns(src, out_height, vertical);

  // The horizontal pass only needs the rows the vertical pass will read.
  const int row_begin = vertical.first.front();
  const int row_end = vertical.first.back() + vertical.count.back();
  ImageU8 rows = resample_rows(src, row_begin, row_end, out_width, precompute_weights(src.width, out_width, kernel));
  if (!need_vertical) return rows;
  for (int& f : vertical.first) f -= row_begin;
  return resample_columns(rows, out_height, vertical);
}

// PIL's nearest-neighbour scaling (ImagingScaleAffine): source coordinates are accumulated in
// double precision, starting half a step in; pixels mapping outside the source stay 0.
ImageU8 resample_nearest(const ImageU8& src, int out_height, int out_width) {
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };
  const double step_x = static_cast<double>(src.width) / out_width;
  const double step_y = static_cast<double>(src.height) / out_height;
  std::vector<int> src_x(out_width, -1);
  double xo = step_x * 0.5;
  for (int x = 0; x < out_width; ++x) {
    const int xi = coord(xo);
    if (xi >= 0 && xi < src.width) src_x[x] = xi;
    xo += step_x;
  }
  const int channels = src.channels;
  ImageU8 out(out_height, out_width, channels);
  double yo = step_y * 0.5;
  for (int y = 0; y < out_height; ++y) {
    const int yi = coord(yo);
    yo += step_y;
    if (yi < 0 || yi >= src.height) continue;
    const uint8_t* in = src.row(yi);
    uint8_t* dst = out.row(y);
    for (int x = 0; x < out_width; ++x) {
      if (src_x[x] < 0) continue;
      std::memcpy(dst + static_cast<size_t>(x) * channels, in + static_cast<size_t>(src_x[x]) * channels, channels);
    }
  }
  return out;
}

}  // namespace

ImageU8 resize_like_pil(const ImageU8& src, int out_height, int out_width, Interpolation filter) {
  QVIT_CHECK(out_height > 0 && out_width > 0, "resize_like_pil: empty output size");
  QVIT_CHECK(src.height > 0 && src.width > 0 && (src.channels == 1 || src.channels == 3),
             "resize_like_pil: bad source image");
  if (out_height == src.height && out_width == src.width) return src;
  switch (filter) {
    case Interpolation::Nearest: return resample_nearest(src, out_height, out_width);
    case Interpolation::Bilinear: return resample_separable(src, out_height, out_width, kBilinear);
    case Interpolation::Bicubic: return resample_separable(src, out_height, out_width, kBicubic);
  }
  QVIT_CHECK(false, "resize_like_pil: unknown filter");
  return src;
}

}  // namespace qvit::data
