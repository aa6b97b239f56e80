// Observers and quantizers against numpy (golden files from tools/make_observer_golden.py) and
// against their definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "calib/observers.h"
#include "calib/quant_params.h"
#include "util/npy.h"

namespace qvit {
namespace {

const std::string kGolden = std::string(QVIT_TEST_DIR) + "/golden/observers/";

TEST(Observers, MinMaxAndPercentilesMatchNumpy) {
  const Tensor data = read_npy(kGolden + "data.npy");
  std::ifstream f(kGolden + "expected.json");
  const auto expected = nlohmann::json::parse(f)["rows"];
  const int64_t n = data.shape()[1];
  for (int64_t r = 0; r < data.shape()[0]; ++r) {
    const float* row = data.data<float>() + r * n;
    MinMaxObserver mm;
    // Feed in uneven batches, as calibration does.
    for (int64_t s = 0; s < n; s += 3001) mm.observe(row + s, std::min<int64_t>(3001, n - s));
    EXPECT_EQ(mm.range().lo, expected[r]["min"].get<float>());
    EXPECT_EQ(mm.range().hi, expected[r]["max"].get<float>());
    for (const auto& pc : expected[r]["percentiles"]) {
      PercentileObserver po(pc["lower"].get<double>(), pc["upper"].get<double>(), n);
      for (int64_t s = 0; s < n; s += 777) po.observe(row + s, std::min<int64_t>(777, n - s));
      const Range got = po.range();
      // float32 result of a float64 interpolation between float32 neighbours: 1 ulp.
      EXPECT_FLOAT_EQ(got.lo, pc["lo"].get<float>()) << "row " << r << " p" << pc["lower"];
      EXPECT_FLOAT_EQ(got.hi, pc["hi"].get<float>()) << "row " << r << " p" << pc["upper"];
    }
  }
}

TEST(Observers, PercentileRefusesIncompleteData) {
  PercentileObserver po(0.1, 99.9, 100);
  std::vector<float> v(50, 1.0f);
  po.observe(v.data(), 50);
  EXPECT_THROW(po.range(), InternalError);
  EXPECT_THROW(PercentileObserver(50, 10, 10), Error);
}

TEST(Observers, MseRangeClipsOutliers) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(50000);
  for (auto& x : v) x = d(rng);
  v[0] = 40.0f;  // one outlier stretches min/max badly at 4 bits
  MinMaxObserver mm;
  mm.observe(v.data(), static_cast<int64_t>(v.size()));
  HistogramObserver h(mm.range());
  h.observe(v.data(), static_cast<int64_t>(v.size()));
  const Range r = h.mse_range(4, QuantScheme::Asymmetric);
  EXPECT_LT(r.hi, 40.0f * 0.5f);
  EXPECT_GE(r.hi, 40.0f * 0.3f - 1e-3f);
}

TEST(QuantParams, RoundTripAndClampAtEveryWidth) {
  for (int bits = 2; bits <= 8; ++bits) {
    for (QuantScheme s : {QuantScheme::Asymmetric, QuantScheme::Symmetric}) {
      const QuantParams p = params_for_range(-1.5f, 3.0f, bits, s);
      EXPECT_GT(p.scale, 0.0f);
      // Every code dequantizes and quantizes back to itself.
      for (int32_t q = p.qmin(); q <= p.qmax(); ++q) EXPECT_EQ(p.quantize(p.dequantize(q)), q) << bits;
      // Out-of-range values clamp to the end codes.
      EXPECT_EQ(p.quantize(1e9f), p.qmax());
      EXPECT_EQ(p.quantize(-1e9f), p.qmin());
      // In range, the error is at most half a step.
      for (float x = -1.5f; x <= 3.0f; x += 0.01f) {
        if (s == QuantScheme::Symmetric && x < -p.scale * static_cast<float>(-p.qmin())) continue;
        EXPECT_LE(std::fabs(p.fake_quant(x) - x), 0.5f * p.scale * 1.0001f) << bits << " " << x;
      }
      // Zero is exactly representable (padding, ReLU-like zeros).
      EXPECT_EQ(p.fake_quant(0.0f), 0.0f);
    }
  }
  EXPECT_EQ(params_for_range(0, 0, 8, QuantScheme::Asymmetric).scale > 0, true);
}

TEST(QuantParams, LogSqrt2CodesForKnownInputs) {
  QuantParams p{QuantScheme::LogSqrt2, 4, 1.0f, 0};
  EXPECT_EQ(p.quantize(1.0f), 0);                     // s·2^0
  EXPECT_EQ(p.quantize(0.5f), 2);                     // 2^-1 = 2^(-2/2)
  EXPECT_EQ(p.quantize(1.0f / std::sqrt(2.0f)), 1);   // 2^(-1/2)
  EXPECT_EQ(p.quantize(0.25f), 4);
  EXPECT_EQ(p.quantize(2.0f), 0);                     // above s clamps to code 0
  for (int q = 0; q <= p.qmax(); ++q) EXPECT_FLOAT_EQ(p.dequantize(q), std::pow(2.0f, -0.5f * q)) << q;  // log2 form
  EXPECT_EQ(p.fake_quant(0.0f), 0.0f);                // zero stays zero
  EXPECT_EQ(p.fake_quant(1e-6f), 0.0f);               // below the last code (2^-7.5) → 0
  EXPECT_GT(p.fake_quant(std::pow(2.0f, -7.4f)), 0.0f);
}

// The vectorized, threaded fake_quant over arrays equals QuantParams::fake_quant (std::round, half
// away from zero) element by element: exact ties k + 1/2 of both signs, ±0, values past 2^23
// steps and past the grid, infinities and denormals, on grids of every scheme.
TEST(QuantParams, ArrayFakeQuantEqualsTheScalarDefinition) {
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const std::vector<QuantParams> grids = {
      {QuantScheme::Asymmetric, 8, 0.05f, 117}, {QuantScheme::Symmetric, 4, 0.3f, 0}, {QuantScheme::Symmetric, 16, 1e-3f, 0},
      {QuantScheme::Asymmetric, 2, 1.5f, 1},    {QuantScheme::LogSqrt2, 4, 1.0f, 0},   {QuantScheme::Symmetric, 8, 1e-30f, 0}};
  for (const QuantParams& p : grids) {
    std::vector<float> x;
    for (int k = -300; k <= 300; ++k) x.push_back((static_cast<float>(k) + 0.5f) * p.scale);  // ties
    for (float v : {0.0f, -0.0f, 1e-40f, -1e-40f, 8388608.0f, -8388609.0f, 3e38f, -3e38f, INFINITY, -INFINITY, NAN})
      x.push_back(v);
    for (int i = 0; i < 100000; ++i) x.push_back(normal(rng) * static_cast<float>(1 << (i % 12)) * p.scale);
    std::vector<float> y = x;
    fake_quant(y.data(), static_cast<int64_t>(y.size()), p);
    for (size_t i = 0; i < x.size(); ++i) {
      // (A NaN stays NaN over arrays, so a broken activation shows; quantize() maps it to the zero point.)
      if (std::isnan(x[i]) && p.scheme != QuantScheme::LogSqrt2) {
        ASSERT_TRUE(std::isnan(y[i]));
        continue;
      }
      const float want = p.fake_quant(x[i]);
      ASSERT_EQ(std::signbit(y[i]), std::signbit(want)) << x[i];
      ASSERT_EQ(y[i], want) << "x = " << x[i] << ", scheme " << scheme_name(p.scheme) << " " << p.bits << " bits";
    }
  }
}

}  // namespace
}  // namespace qvit
