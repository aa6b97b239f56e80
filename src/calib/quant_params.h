#pragma once
// Quantization parameters as small value types, and the float reference of what they mean
// (quantize, dequantize, fake-quant). Notation of DESIGN.md:
//   asymmetric (unsigned) b bits: q = clamp(round(x/s) + z, 0, 2^b − 1),          x̂ = s·(q − z)
//   symmetric (signed)    b bits: q = clamp(round(x/s), −2^(b−1), 2^(b−1) − 1),  x̂ = s·q
//   log-√2 (softmax output):      q = clamp(round(−2·log2(x/s)), 0, 2^b − 1),   x̂ = s·2^(−q/2); q past the
//                                 last code is 0 (RepQ-ViT's convention)
// Rounding is half away from zero (std::round), as the integer requantizer does.
#include <cstdint>
#include <string>
#include <vector>

namespace qvit {

enum class QuantScheme : uint8_t { Asymmetric, Symmetric, LogSqrt2 };

const char* scheme_name(QuantScheme s);
QuantScheme scheme_from_name(const std::string& name);  // throws qvit::Error

struct QuantParams {
  QuantScheme scheme = QuantScheme::Asymmetric;
  int bits = 8;
  float scale = 1.0f;
  int32_t zero_point = 0;  // 0 for Symmetric and LogSqrt2

  int32_t qmin() const;
  int32_t qmax() const;
  int32_t quantize(float x) const;
  float dequantize(int32_t q) const;
  float fake_quant(float x) const { return dequantize(quantize(x)); }
  bool operator==(const QuantParams&) const = default;
};

// Per-output-channel weights: one scale (and zero point) per channel along `axis`.
struct ChannelQuantParams {
  QuantScheme scheme = QuantScheme::Symmetric;
  int bits = 8;
  int axis = 0;
  std::vector<float> scale;
  std::vector<int32_t> zero_point;

  QuantParams channel(size_t c) const { return {scheme, bits, scale.at(c), zero_point.empty() ? 0 : zero_point.at(c)}; }
  bool operator==(const ChannelQuantParams&) const = default;
};

// What every quantizer qvit reads (calibration files, an integer model's input quantizer) must
// satisfy, so that qmin()/qmax() and quantize() are defined and x/scale is finite: bits in
// [kMinQuantBits, kMaxQuantBits] (log-√2: code bits), a finite scale in [kMinQuantScale,
// kMaxQuantScale], and a zero point that is a code of the grid (asymmetric: [0, 2^b − 1]) or 0
// (symmetric, log-√2: the grid is centered by definition).
inline constexpr int kMinQuantBits = 2, kMaxQuantBits = 16;
inline constexpr double kMinQuantScale = 1e-30, kMaxQuantScale = 1e30;
// "" when `p` satisfies all of that, else the problem as "<field> = <value> is outside [lo, hi]"
// (field one of bits, scale, zero_point), for the caller to prefix with its file and field.
std::string quant_params_problem(const QuantParams& p);
// Per-channel weights: the same for every channel, plus one scale per channel (at least one) and
// zero points either absent or one per scale.
std::string channel_quant_params_problem(const ChannelQuantParams& p);

// The parameters that make [lo, hi] (widened to include 0) representable: asymmetric spans it
// with 2^b − 1 steps; symmetric uses max(|lo|, |hi|) / (2^(b−1) − 1). A degenerate range gets a
// tiny positive scale, never 0.
QuantParams params_for_range(float lo, float hi, int bits, QuantScheme scheme);

// In-place fake quantization of n floats.
void fake_quant(float* x, int64_t n, const QuantParams& p);
// Per-channel fake quantization of a row-major tensor with `channels` along axis of size
// `channels` and `inner` elements after it.
void fake_quant_channels(float* x, int64_t outer, int64_t channels, int64_t inner, const ChannelQuantParams& p);

}  // namespace qvit
