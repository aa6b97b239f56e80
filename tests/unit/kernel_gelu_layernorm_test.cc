// ShiftGELU, I-BERT GELU (and its int32-safe use) and I-LayerNorm against double references.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernel_bounds.h"
#include "kernels/kernel_params.h"
#include "kernels/reference/ibert.h"
#include "kernels/reference/ilayernorm.h"
#include "kernels/reference/shiftgelu.h"
#include "util/error.h"

namespace qvit::kernels {
namespace {

using testing::gelu;
using testing::random_ints;

std::vector<int32_t> every_value(int32_t lo, int32_t hi) {
  std::vector<int32_t> v(hi - lo + 1);
  std::iota(v.begin(), v.end(), lo);
  return v;
}

TEST(KernelShiftGelu, EveryEightBitInputWithinBound) {
  const double s = 8.0 / 128;  // 8-bit input over [-8, 8)
  const ref::ShiftGeluParams p = make_shiftgelu_params(s, 16);
  const auto x = every_value(-128, 127);
  std::vector<int32_t> out(x.size());
  TruncationStats stats;
  ref::shiftgelu(x.data(), out.data(), static_cast<int32_t>(x.size()), p, &stats);
  const double out_scale = shiftgelu_output_scale(s, p);
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(out[i] * out_scale - gelu(x[i] * s)));
  // x * sigmoid(1.6875 x) vs exact GELU (sigmoid form error <= 0.02) plus shift-exp error: <= 0.07
  EXPECT_LE(worst, 0.07);
  EXPECT_EQ(stats.events, 0u);
  EXPECT_TRUE(fits_int32(shiftgelu_bound(p, 128)));
  // 16-bit inputs with a 16-bit sigmoid: x * sigmoid passes 2^31 and saturates, counted.
  const int32_t big = 32767;
  int32_t y = 0;
  TruncationStats overflow;
  ref::shiftgelu(&big, &y, 1, make_shiftgelu_params(8.0 / 32768, 18), &overflow);
  EXPECT_EQ(overflow.events, 1u);
  EXPECT_EQ(y, kInt32Max);
}

TEST(KernelIBertGelu, PublishedFormOverflowsOnWideInputs) {
  // 16-bit input over [-8, 8): i-erf's constants ~ 2^27, times |q| ~ 2^15: past int32.
  const double s = 8.0 / 32768;
  const ref::IBertGeluParams p = make_ibert_gelu_params(s, 0);
  const auto x = random_ints(1000, -32768, 32767, 61);
  std::vector<int32_t> out(x.size());
  TruncationStats stats;
  ref::ibert_gelu(x.data(), out.data(), static_cast<int32_t>(x.size()), p, &stats);
  EXPECT_GT(stats.events, 500u);  // q > 0: (one + erf) ~ 2 one; q < 0 nearly cancels
  EXPECT_FALSE(fits_int32(ibert_gelu_bound(p, 32768)));
}

TEST(KernelInt32SafeGelu, NineBitInputFitsExactlyWithZeroTruncations) {
  for (double range : {4.0, 8.0, 16.0}) {
    const double s = range / 512;  // requantized below 10 bits: |q| <= 511
    const ref::IBertGeluParams p = make_int32safe_gelu_params(s);
    const auto x = every_value(-511, 511);
    std::vector<int32_t> out(x.size());
    TruncationStats stats;
    ref::ibert_gelu(x.data(), out.data(), static_cast<int32_t>(x.size()), p, &stats);
    EXPECT_EQ(stats.events, 0u) << range;
    EXPECT_TRUE(fits_int32(ibert_gelu_bound(p, 511)));
    const double out_scale = ibert_gelu_output_scale(s, p);
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(out[i] * out_scale - gelu(x[i] * s)));
    // I-BERT's erf polynomial is off by up to ~0.1 near 0+ (a b^2 + 1 = 0.096), times x/2: <= 0.03
    EXPECT_LE(worst, 0.03) << range;
  }
  EXPECT_THROW(make_int32safe_gelu_params(0.01, 1000), Error);
}

struct LayerNormCase {
  std::vector<float> gamma, beta;
  double eps = 1e-6, s_in = 0.05, s_out = 0.04;
};

// Float LayerNorm of centered ints x * s_in, quantized nowhere: the value the kernel approximates.
std::vector<double> ref_layernorm(const std::vector<int32_t>& x, const LayerNormCase& c) {
  const size_t ch = c.gamma.size();
  std::vector<double> out(x.size());
  for (size_t r = 0; r < x.size() / ch; ++r) {
    double mean = 0, var = 0;
    for (size_t j = 0; j < ch; ++j) mean += x[r * ch + j] * c.s_in;
    mean /= ch;
    for (size_t j = 0; j < ch; ++j) var += std::pow(x[r * ch + j] * c.s_in - mean, 2);
    var /= ch;
    for (size_t j = 0; j < ch; ++j)
      out[r * ch + j] = ((x[r * ch + j] * c.s_in - mean) / std::sqrt(var + c.eps) * c.gamma[j] + c.beta[j]) / c.s_out;
  }
  return out;
}

TEST(KernelILayerNorm, WithinOneOutputUnitAndNoTruncationInTheInt32SafeForm) {
  for (int32_t channels : {1, 16, 768, 3072}) {
    for (int32_t bits : {8, 16}) {
      LayerNormCase c;
      std::mt19937 rng(channels + bits);
      std::normal_distribution<float> g(1.0f, 0.3f), b(0.0f, 0.5f);
      for (int32_t j = 0; j < channels; ++j) {
        c.gamma.push_back(g(rng));
        c.beta.push_back(b(rng));
      }
      c.gamma[0] = 0.0f;  // a dead channel
      c.s_in = 8.0 / (1 << (bits - 1));
      const int32_t qmax = (1 << (bits - 1)) - 1;
      std::vector<int32_t> x = random_ints(4 * channels, -qmax - 1, qmax, 7 + channels);
      std::vector<int32_t> equal(channels, 3), extremes(channels);
      for (int32_t j = 0; j < channels; ++j) extremes[j] = j % 3 ? qmax : -qmax - 1;
      x.insert(x.end(), equal.begin(), equal.end());
      x.insert(x.end(), extremes.begin(), extremes.end());
      const ref::ClampRange range = ref::centered_range(8, 128);
      const ref::ILayerNormParams p =
          make_ilayernorm_params(c.gamma, c.beta, c.eps, c.s_in, bits, c.s_out, range, 15);
      std::vector<int32_t> out(x.size());
      TruncationStats stats;
      ref::ilayernorm(x.data(), out.data(), static_cast<int32_t>(x.size()) / channels, p, &stats);
      const auto expect = ref_layernorm(x, c);
      // Error in output units: 1/2 (final rounding) + |gamma|/s_out * (error of x_hat), where x_hat
      // errs by the mean rounding (1/2 input unit over sigma) and the norm ulp s_norm = sqrt(C) 2^-(M+t)
      // (1/2 for the division, 1/2 for d_t and the floor sqrt), plus beta's 2^-30 relative rounding.
      const double s_norm = ilayernorm_norm_scale(channels, bits, 15);
      for (int32_t r = 0; r < static_cast<int32_t>(x.size()) / channels; ++r) {
        double mean = 0, var = 0;
        for (int32_t j = 0; j < channels; ++j) mean += x[r * channels + j];
        mean /= channels;
        for (int32_t j = 0; j < channels; ++j) var += std::pow(x[r * channels + j] - mean, 2);
        const double sigma = std::sqrt(var / channels + c.eps / (c.s_in * c.s_in));
        for (int32_t j = 0; j < channels; ++j) {
          const size_t i = r * channels + j;
          // and the floor of the integer sqrt: relative 1/std_int, std_int ~ sigma sqrt(C) 2^-t
          const double std_int = sigma * s_norm * std::ldexp(1.0, 15);  // = sigma sqrt(C) 2^-t
          const double x_hat = std::fabs(expect[i] * c.s_out - c.beta[j]) / std::max(1e-9, std::fabs(static_cast<double>(c.gamma[j])));
          const double bound =
              0.5 + std::fabs(c.gamma[j]) / c.s_out * (0.5 / sigma + 2.0 * s_norm + x_hat / std_int) + 1e-3 +
              // the requant's pre-shift rounding (norm * g + h spans int32, so rq_c pre-shifts)
              (p.rq[j].pre_shift > 0 ? 0.5 * std::ldexp(static_cast<double>(p.rq[j].m0), -p.rq[j].post_shift) : 0.0);
          ASSERT_LE(std::fabs(out[i] - std::clamp(expect[i], -128.0, 127.0)), bound)
              << "C " << channels << " bits " << bits << " row " << r << " ch " << j;
        }
      }
      EXPECT_EQ(stats.events, 0u) << "C " << channels << " bits " << bits;
      EXPECT_TRUE(fits_int32(ilayernorm_bound(p, qmax + 1))) << "C " << channels << " bits " << bits;
    }
  }
}

TEST(KernelILayerNorm, TooSmallNumeratorShiftDividesToZeroAndIsCounted) {
  // M = 0: (x - mean) / std rounds to 0 for most elements of a wide row.
  const int32_t channels = 768;
  std::vector<float> gamma(channels, 1.0f), beta(channels, 0.0f);
  const auto x = random_ints(channels, -128, 127, 5);
  const ref::ILayerNormParams p =
      make_ilayernorm_params(gamma, beta, 1e-6, 0.05, 8, 0.05, ref::centered_range(8, 128), 0);
  std::vector<int32_t> out(channels);
  TruncationStats stats;
  ref::ilayernorm(x.data(), out.data(), 1, p, &stats);
  EXPECT_GT(stats.events, static_cast<uint64_t>(channels / 2));
}

}  // namespace
}  // namespace qvit::kernels
