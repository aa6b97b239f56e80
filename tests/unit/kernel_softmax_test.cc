// Softmax kernels (Shiftmax, I-BERT, int32-safe) against double softmax, with truncation counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernel_bounds.h"
#include "kernels/kernel_params.h"
#include "kernels/reference/ibert.h"
#include "kernels/reference/int32safe_softmax.h"
#include "kernels/reference/shiftmax.h"
#include "util/error.h"

namespace qvit::kernels {
namespace {

using testing::max_abs_diff;
using testing::random_ints;
using testing::softmax_rows;

// Rows that stress the kernels: random, all equal, one huge logit, +-max of the 8-bit width, zeros.
std::vector<int32_t> stress_rows(int32_t cols, int32_t lo, int32_t hi, uint32_t seed) {
  std::vector<int32_t> v = random_ints(4 * cols, lo, hi, seed);
  std::vector<int32_t> equal(cols, 17), zeros(cols, 0), huge(cols, lo), extremes(cols);
  huge[cols / 2] = hi;
  for (int32_t j = 0; j < cols; ++j) extremes[j] = j % 2 ? hi : lo;
  for (const auto* r : {&equal, &zeros, &huge, &extremes}) v.insert(v.end(), r->begin(), r->end());
  return v;
}

TEST(KernelShiftmax, UniformOutputWithinBoundOfFloatSoftmax) {
  const double s = 1.0 / 16;  // 8-bit logits in [-8, 8)
  const int32_t n = 15;
  for (int32_t cols : {1, 2, 197, 3072}) {
    const auto x = stress_rows(cols, -128, 127, 40 + cols);
    const int32_t rows = static_cast<int32_t>(x.size()) / cols;
    const ref::ShiftmaxParams p = make_shiftmax_params(s, n, {ref::ProbFormat::kUniform, 16});
    std::vector<int32_t> out(x.size());
    TruncationStats stats;
    ref::shiftmax(x.data(), out.data(), rows, cols, p, &stats);
    // Shiftmax error: the linear 2^-f (<= 6% relative on each exp, partly cancelling in the ratio),
    // log2 e ~ 1.4375 and the 2^-15 output ulp give 0.04 absolute for S = 1/16, b = 16; on top, the
    // clamp Ip >= n*I0 floors every exp at 2^-n, so a row can gain up to cols * 2^-n of spurious mass.
    const auto expect = softmax_rows(x, cols, s);
    EXPECT_LE(max_abs_diff(out, 1.0 / (1 << 15), expect), 0.04 + cols * std::ldexp(1.0, -n)) << "cols " << cols;
    EXPECT_TRUE(fits_int32(shiftmax_bound(p, cols, 128)));
    // No saturation: only probabilities below the output ulp, or exps below 2^s of the row's
    // largest (dropped by the sum shift, exp_approx.h), may become 0 and count.
    const int32_t sum_shift = ref::shift_exp_sum_shift(p.exp, cols);
    const double dropped = std::ldexp(2.0, sum_shift - (bit_length(-p.exp.i0) + n));
    uint64_t tiny = 0;
    for (int32_t r = 0; r < rows; ++r) {
      const double row_max = *std::max_element(expect.begin() + r * cols, expect.begin() + (r + 1) * cols);
      for (int32_t j = 0; j < cols; ++j) {
        const double v = expect[r * cols + j];
        tiny += (v < std::ldexp(1.0, -14) || v / row_max < dropped) ? 1 : 0;
      }
    }
    EXPECT_LE(stats.events, tiny) << "cols " << cols;
  }
}

TEST(KernelShiftmax, EightBitOutputTruncatesSmallProbabilitiesAndCountsThem) {
  // I-ViT's 8-bit output has scale 2^-7: a uniform row of 197 gives 1/197 < 2^-7 -> 0, counted.
  const int32_t cols = 197;
  std::vector<int32_t> x(cols, 5), out(cols);
  TruncationStats stats;
  ref::shiftmax(x.data(), out.data(), 1, cols, make_shiftmax_params(1.0 / 16), &stats);
  for (int32_t v : out) EXPECT_EQ(v, 0);
  EXPECT_EQ(stats.events, static_cast<uint64_t>(cols));
  // One row of length 1 is exactly "1" -> 127/128.
  int32_t one = -77, y = 0;
  ref::shiftmax(&one, &y, 1, 1, make_shiftmax_params(1.0 / 16), nullptr);
  EXPECT_EQ(y, 127);
}

TEST(KernelShiftmax, LongRowsAndFineScalesUseTheSumShiftInsteadOfOverflowing) {
  // S = 2^-10, n = 15: E < 2^26, 3072 columns -> the sum would pass 2^31 without the shift.
  const double s = 1.0 / 1024;
  const int32_t cols = 3072;
  const auto x = random_ints(cols, -8000, 0, 77);
  const ref::ShiftmaxParams p = make_shiftmax_params(s, 15, {ref::ProbFormat::kUniform, 20});
  EXPECT_GT(ref::shift_exp_sum_shift(p.exp, cols), 0);
  EXPECT_TRUE(fits_int32(shiftmax_bound(p, cols, 8000)));
  std::vector<int32_t> out(cols);
  TruncationStats stats;
  ref::shiftmax(x.data(), out.data(), 1, cols, p, &stats);
  EXPECT_LE(max_abs_diff(out, 1.0 / (1 << 19), softmax_rows(x, cols, s)), 0.01);
  // An I0/n pair whose E cannot fit int32 saturates and is counted.
  ref::ShiftmaxParams wide = p;
  wide.exp.n = 30;
  ref::shiftmax(x.data(), out.data(), 1, cols, wide, &stats);
  EXPECT_GT(stats.events, 0u);
  EXPECT_FALSE(fits_int32(shiftmax_bound(wide, cols, 8000)));
}

TEST(KernelIBertSoftmax, AccurateOnShortRowsOverflowsOnFineScales) {
  const double s = 1.0 / 64;
  const int32_t cols = 197;
  const auto x = stress_rows(cols, -512, 511, 90);
  const int32_t rows = static_cast<int32_t>(x.size()) / cols;
  std::vector<int32_t> out(x.size());
  TruncationStats stats;
  ref::ibert_softmax(x.data(), out.data(), rows, cols, make_ibert_softmax_params(s, {ref::ProbFormat::kUniform, 16}),
                     &stats);
  // 2nd-order i-exp: within 0.01 absolute for S = 1/64, b = 16.
  EXPECT_LE(max_abs_diff(out, 1.0 / (1 << 15), softmax_rows(x, cols, s)), 0.01);
  // S = 2^-12: e(0) ~ 2.79 * 2^24 ~ 2^25.5, 197 of them pass 2^31: the sum saturates (MLSys'23 Table 1).
  const ref::IBertSoftmaxParams fine = make_ibert_softmax_params(1.0 / 4096, {ref::ProbFormat::kUniform, 8});
  std::vector<int32_t> flat(cols, 0);
  TruncationStats overflow;
  ref::ibert_softmax(flat.data(), out.data(), 1, cols, fine, &overflow);
  EXPECT_EQ(overflow.events, static_cast<uint64_t>(cols));
  EXPECT_FALSE(fits_int32(ibert_softmax_bound(fine, cols, 0)));
}

TEST(KernelInt32SafeSoftmax, AccurateOnAllStressRowsWithinStatedBound) {
  for (int32_t m_star : {12, 16, 20}) {
    const double s_min = int32safe_softmax_min_input_scale(m_star);
    const ref::Int32SafeSoftmaxParams p = make_int32safe_softmax_params(s_min, m_star);
    const double e_max = static_cast<double>(p.exp.b) * p.exp.b + p.exp.c;
    EXPECT_LT(e_max, std::ldexp(1.0, 31 - m_star));
    for (int32_t cols : {1, 197, 3072}) {
      const int32_t span = static_cast<int32_t>(12.0 / s_min);  // logits spanning [-12, 0]
      const auto x = stress_rows(cols, -span, 0, 100 + cols);
      const int32_t rows = static_cast<int32_t>(x.size()) / cols;
      std::vector<int32_t> out(x.size());
      ref::int32safe_softmax(x.data(), out.data(), rows, cols, p, nullptr);
      EXPECT_TRUE(fits_int32(int32safe_softmax_bound(p, cols, span)));
      // i-exp error (< 0.6% absolute after normalization) + the 2^-M* ulp + the mass of terms whose
      // exp falls below 2 units of the exp's resolution 1/e_max (they become 0).
      const auto expect = softmax_rows(x, cols, s_min);
      for (int32_t r = 0; r < rows; ++r) {
        double lost_mass = 0, row_max_ref = 0;
        for (int32_t j = 0; j < cols; ++j) row_max_ref = std::max(row_max_ref, expect[r * cols + j]);
        for (int32_t j = 0; j < cols; ++j)
          if (expect[r * cols + j] / row_max_ref < 2.0 / e_max) lost_mass += expect[r * cols + j];
        for (int32_t j = 0; j < cols; ++j) {
          ASSERT_LE(std::fabs(out[r * cols + j] * std::ldexp(1.0, -m_star) - expect[r * cols + j]),
                    0.006 + std::ldexp(1.0, -m_star) + lost_mass)
              << "M* " << m_star << " cols " << cols << " row " << r;
        }
      }
    }
  }
  EXPECT_THROW(make_int32safe_softmax_params(int32safe_softmax_min_input_scale(16) / 2, 16), Error);
}

TEST(KernelInt32SafeSoftmax, OutputOrientedMStarGivesZeroTruncations) {
  // Calibrated attention rows: logits in [-8, 0]; M* is chosen so that the output ulp 2^-M* is
  // below half the smallest probability seen (MLSys'23 "output-oriented"). Then nothing divides to 0.
  for (int32_t cols : {1, 197, 3072}) {
    std::vector<int32_t> rows_real = random_ints(3 * cols, -8000, 0, 300 + cols);  // logits * 1000
    rows_real.insert(rows_real.end(), cols, 0);                                    // all equal
    double p_min = 1;
    for (double v : softmax_rows(rows_real, cols, 1e-3)) p_min = std::min(p_min, v);
    const int32_t m_star = static_cast<int32_t>(std::ceil(-std::log2(p_min))) + 1;
    const double s = int32safe_softmax_min_input_scale(m_star);
    std::vector<int32_t> x(rows_real.size()), out(rows_real.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int32_t>(std::lround(rows_real[i] * 1e-3 / s));
    TruncationStats stats;
    ref::int32safe_softmax(x.data(), out.data(), static_cast<int32_t>(x.size()) / cols, cols,
                           make_int32safe_softmax_params(s, m_star), &stats);
    EXPECT_EQ(stats.events, 0u) << "cols " << cols << " M* " << m_star;
    EXPECT_EQ(stats.elements, x.size());
  }
}

TEST(KernelInt32SafeSoftmax, TooSmallMStarDividesSmallProbabilitiesToZero) {
  const int32_t m_star = 4;
  const double s = int32safe_softmax_min_input_scale(m_star);
  std::vector<int32_t> x(197, -static_cast<int32_t>(3.0 / s)), out(197);
  x[0] = 0;
  TruncationStats stats;
  ref::int32safe_softmax(x.data(), out.data(), 1, 197, make_int32safe_softmax_params(s, m_star), &stats);
  EXPECT_GT(stats.events, 100u);  // e^-3 / (1 + 196 e^-3) ~ 0.005 < 2^-5: divides to 0
}

}  // namespace
}  // namespace qvit::kernels
