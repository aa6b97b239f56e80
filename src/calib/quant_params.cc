#include "calib/quant_params.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "util/error.h"
#include "util/thread_pool.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace qvit {

const char* scheme_name(QuantScheme s) {
  switch (s) {
    case QuantScheme::Asymmetric: return "asymmetric";
    case QuantScheme::Symmetric: return "symmetric";
    case QuantScheme::LogSqrt2: return "log_sqrt2";
  }
  return "?";
}

QuantScheme scheme_from_name(const std::string& name) {
  if (name == "asymmetric") return QuantScheme::Asymmetric;
  if (name == "symmetric") return QuantScheme::Symmetric;
  if (name == "log_sqrt2") return QuantScheme::LogSqrt2;
  throw Error("unknown quantization scheme '" + name + "' (asymmetric, symmetric, log_sqrt2)");
}

int32_t QuantParams::qmin() const { return scheme == QuantScheme::Symmetric ? -(1 << (bits - 1)) : 0; }
int32_t QuantParams::qmax() const {
  return scheme == QuantScheme::Symmetric ? (1 << (bits - 1)) - 1 : static_cast<int32_t>((int64_t{1} << bits) - 1);
}

int32_t QuantParams::quantize(float x) const {
  if (std::isnan(x)) return scheme == QuantScheme::Symmetric ? 0 : zero_point;
  if (scheme == QuantScheme::LogSqrt2) {
    // Codes count half-octaves down from s; x ≤ 0 (or below the last code) becomes "zero" = qmax+1
    // conceptually, stored as qmax with dequantize() mapping the overflow flag below.
    if (x <= 0.0f) return qmax() + 1;
    const double code = std::round(-2.0 * std::log2(static_cast<double>(x) / scale));
    if (code > qmax()) return qmax() + 1;
    return static_cast<int32_t>(std::max(0.0, code));
  }
  // Float arithmetic, identical to the fake_quant() hot path below.
  const float q = std::round(x / scale) + static_cast<float>(zero_point);
  return static_cast<int32_t>(std::clamp(q, static_cast<float>(qmin()), static_cast<float>(qmax())));
}

float QuantParams::dequantize(int32_t q) const {
  if (scheme == QuantScheme::LogSqrt2) {
    if (q > qmax()) return 0.0f;
    // log2 form (RepQ-ViT): s·2^(−q/2) = s·2^(−⌈q/2⌉)·(√2 if q is odd), so inference needs only a
    // right shift by ⌈q/2⌉ and one constant multiplier for odd codes.
    const float odd = (q & 1) ? 1.41421356237309505f : 1.0f;
    return std::ldexp(scale * odd, -((q + 1) >> 1));
  }
  return scale * static_cast<float>(q - zero_point);
}

namespace {

std::string outside(const char* field, const std::string& value, const std::string& lo, const std::string& hi) {
  return std::string(field) + " = " + value + " is outside [" + lo + ", " + hi + "]";
}

std::string number_str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// The zero point of a grid with valid bits and scheme.
std::string zero_point_problem(QuantScheme scheme, int bits, int32_t zero_point) {
  const int32_t hi = scheme == QuantScheme::Asymmetric ? static_cast<int32_t>((int64_t{1} << bits) - 1) : 0;
  if (zero_point < 0 || zero_point > hi)
    return outside("zero_point", std::to_string(zero_point), "0", std::to_string(hi)) +
           (scheme == QuantScheme::Asymmetric ? "" : std::string(" (") + scheme_name(scheme) + " grids have zero point 0)");
  return "";
}

std::string bits_problem(int bits) {
  if (bits < kMinQuantBits || bits > kMaxQuantBits)
    return outside("bits", std::to_string(bits), std::to_string(kMinQuantBits), std::to_string(kMaxQuantBits));
  return "";
}

std::string scale_problem(float scale) {
  // Compared as floats (a file's 1e-30 is stored as the nearest float), written so NaN fails too.
  if (!(scale >= static_cast<float>(kMinQuantScale) && scale <= static_cast<float>(kMaxQuantScale)))
    return outside("scale", number_str(scale), number_str(kMinQuantScale), number_str(kMaxQuantScale));
  return "";
}

}  // namespace

std::string quant_params_problem(const QuantParams& p) {
  if (std::string b = bits_problem(p.bits); !b.empty()) return b;
  if (std::string s = scale_problem(p.scale); !s.empty()) return s;
  return zero_point_problem(p.scheme, p.bits, p.zero_point);
}

std::string channel_quant_params_problem(const ChannelQuantParams& p) {
  if (std::string b = bits_problem(p.bits); !b.empty()) return b;
  if (p.scale.empty()) return "scale has no entries (one per output channel)";
  if (!p.zero_point.empty() && p.zero_point.size() != p.scale.size())
    return "zero_point has " + std::to_string(p.zero_point.size()) + " entries, scale " + std::to_string(p.scale.size()) +
           " (one per output channel, or none)";
  for (size_t c = 0; c < p.scale.size(); ++c)
    if (std::string s = scale_problem(p.scale[c]); !s.empty()) return "channel " + std::to_string(c) + ": " + s;
  for (size_t c = 0; c < p.zero_point.size(); ++c)
    if (std::string z = zero_point_problem(p.scheme, p.bits, p.zero_point[c]); !z.empty())
      return "channel " + std::to_string(c) + ": " + z;
  return "";
}

QuantParams params_for_range(float lo, float hi, int bits, QuantScheme scheme) {
  QVIT_CHECK(bits >= 2 && bits <= 16, "bits out of range");
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  constexpr float kMinScale = 1e-8f;
  QuantParams p;
  p.scheme = scheme;
  p.bits = bits;
  if (scheme == QuantScheme::Symmetric) {
    p.scale = std::max(std::max(-lo, hi) / static_cast<float>(p.qmax()), kMinScale);
    p.zero_point = 0;
  } else if (scheme == QuantScheme::LogSqrt2) {
    p.scale = std::max(hi, kMinScale);  // code 0 is the largest value
    p.zero_point = 0;
  } else {
    p.scale = std::max((hi - lo) / static_cast<float>(p.qmax()), kMinScale);
    p.zero_point = static_cast<int32_t>(std::clamp(std::round(-lo / p.scale), 0.0f, static_cast<float>(p.qmax())));
  }
  return p;
}

namespace {

// std::round (half away from zero) without a library call. For |v| < 2^23, adding and taking
// away 2^23 rounds |v| to an integer (ulp 1 there), one less if that passed |v| gives
// t = trunc(|v|), and |v| − t is exact (Sterbenz, or t = 0): t + (|v| − t >= 1/2) with v's sign is
// round(v), −0 included. Larger |v|, infinities and NaN are their own rounding.
inline float round_half_away(float v) {
  const float a = std::fabs(v);
  float t = (a + 8388608.0f) - 8388608.0f;
  t -= static_cast<float>(t > a);
  const float r = std::copysign(t + static_cast<float>(a - t >= 0.5f), v);
  return a < 8388608.0f ? r : v;  // false for NaN
}

// x ← (clamp(round(x / scale) + z, lo, hi) − z) · scale with std::clamp's order (a NaN passes).
void fake_quant_uniform(float* x, int64_t n, float scale, float z, float lo, float hi) {
  int64_t i = 0;
#if defined(__SSE2__)
  // The same operations four at a time in SSE2, which every x86-64 CPU has (GCC does not
  // vectorize the selects of the scalar form). max(lo, q) and min(hi, q) return q when q is NaN.
  const __m128 vscale = _mm_set1_ps(scale), vz = _mm_set1_ps(z), vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi);
  const __m128 sign = _mm_set1_ps(-0.0f), two23 = _mm_set1_ps(8388608.0f), one = _mm_set1_ps(1.0f),
               half = _mm_set1_ps(0.5f);
  for (; i + 4 <= n; i += 4) {
    const __m128 v = _mm_div_ps(_mm_loadu_ps(x + i), vscale);
    const __m128 a = _mm_andnot_ps(sign, v);
    __m128 t = _mm_sub_ps(_mm_add_ps(a, two23), two23);
    t = _mm_sub_ps(t, _mm_and_ps(_mm_cmpgt_ps(t, a), one));
    t = _mm_add_ps(t, _mm_and_ps(_mm_cmpge_ps(_mm_sub_ps(a, t), half), one));
    const __m128 r = _mm_or_ps(t, _mm_and_ps(v, sign));
    const __m128 small = _mm_cmplt_ps(a, two23);
    const __m128 rounded = _mm_or_ps(_mm_and_ps(small, r), _mm_andnot_ps(small, v));
    const __m128 q = _mm_min_ps(vhi, _mm_max_ps(vlo, _mm_add_ps(rounded, vz)));
    _mm_storeu_ps(x + i, _mm_mul_ps(_mm_sub_ps(q, vz), vscale));
  }
#endif
  for (; i < n; ++i) {
    const float q = std::clamp(round_half_away(x[i] / scale) + z, lo, hi);
    x[i] = (q - z) * scale;
  }
}

}  // namespace

void fake_quant(float* x, int64_t n, const QuantParams& p) {
  if (p.scheme == QuantScheme::LogSqrt2) {
    parallel_for(n, 1 << 12, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) x[i] = p.fake_quant(x[i]);
    });
    return;
  }
  // Hot path for uniform schemes: the same float arithmetic as quantize/dequantize above.
  const float lo = static_cast<float>(p.qmin()), hi = static_cast<float>(p.qmax());
  const float z = static_cast<float>(p.zero_point);
  const float scale = p.scale;
  parallel_for(n, 1 << 14, [=](int64_t b, int64_t e) { fake_quant_uniform(x + b, e - b, scale, z, lo, hi); });
}

void fake_quant_channels(float* x, int64_t outer, int64_t channels, int64_t inner, const ChannelQuantParams& p) {
  QVIT_CHECK(static_cast<int64_t>(p.scale.size()) == channels, "channel count mismatch");
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) fake_quant(x + (o * channels + c) * inner, inner, p.channel(static_cast<size_t>(c)));
}

}  // namespace qvit
