// M* per softmax layer (calib/m_star_search.h): the output-oriented rule makes truncation impossible
// (checked on adversarial rows), the gap rule follows the paper's definition, and the MSE search
// picks a minimum of the float-vs-integer error.
#include "calib/m_star_search.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/kernel_params.h"
#include "kernels/reference/int32safe_softmax.h"

namespace qvit {
namespace {

TEST(MStar, OutputOrientedRule) {
  EXPECT_EQ(m_star_output_oriented(17), 18);   // 2M* >= 30 + 5
  EXPECT_EQ(m_star_output_oriented(197), 19);  // 2M* >= 30 + 8
  EXPECT_EQ(m_star_output_oriented(3072), 21);
  EXPECT_EQ(m_star_output_oriented(1), 15);
}

TEST(MStar, OutputOrientedMStarNeverTruncates) {
  std::mt19937 rng(3);
  for (int32_t cols : {1, 17, 49, 197, 3072}) {
    const int32_t m = m_star_output_oriented(cols);
    const double s = kernels::int32safe_softmax_min_input_scale(m);
    const auto p = kernels::make_int32safe_softmax_params(s, m);
    // Rows: random logits, all equal, one huge logit, everything far below the maximum.
    std::vector<int32_t> x;
    std::normal_distribution<double> d(0, 4);
    for (int32_t j = 0; j < cols; ++j) x.push_back(static_cast<int32_t>(std::lround(d(rng) / s)));
    for (int32_t j = 0; j < cols; ++j) x.push_back(7);
    for (int32_t j = 0; j < cols; ++j) x.push_back(j == 0 ? 1000000 : -1000000);
    for (int32_t j = 0; j < cols; ++j) x.push_back(j % 2 ? 0 : -static_cast<int32_t>(std::lround(12.0 / s)));
    std::vector<int32_t> y(x.size());
    kernels::TruncationStats stats;
    kernels::ref::int32safe_softmax(x.data(), y.data(), 4, cols, p, &stats);
    EXPECT_EQ(stats.events, 0u) << "cols " << cols << " M* " << m;
  }
}

TEST(MStar, SmallestGapFollowsThePaper) {
  SoftmaxRowSample rows(2, 10);
  const float x[2] = {0.0f, std::log(2.0f)};  // probabilities 1/3, 2/3: smallest gap 1/3
  rows.observe(x, 1, 1);
  EXPECT_EQ(m_star_smallest_gap(rows), 2);    // 2^-2 < 1/3 <= 2^-1
  SoftmaxRowSample tie(3, 10);
  const float y[3] = {0.0f, 1e-6f, 5.0f};     // a near tie: a tiny gap asks for the largest M*
  tie.observe(y, 1, 1);
  EXPECT_GE(m_star_smallest_gap(tie), 24);
}

TEST(MStar, MseSearchFindsTheMinimumOverTheRange) {
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0, 3);
  SoftmaxRowSample rows(64, 100);
  std::vector<float> x(64 * 100);
  for (auto& v : x) v = d(rng);
  rows.observe(x.data(), 100, 1);
  ASSERT_EQ(rows.rows(), 100);
  const MStarMse best = m_star_min_mse(rows, 8, 24);
  EXPECT_GE(best.m_star, 8);
  EXPECT_LE(best.m_star, 24);
  EXPECT_LT(best.mse, 1e-5);  // probabilities of 64 columns, errors well below 1%
  // No other M* in the range does better.
  for (int32_t m = 8; m <= 24; ++m) EXPECT_GE(m_star_min_mse(rows, m, m).mse, best.mse);
}

TEST(MStar, RowSampleKeepsEveryStrideThRowUpToTheCap) {
  SoftmaxRowSample rows(2, 3);
  std::vector<float> x(20);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  rows.observe(x.data(), 10, 4);  // rows 0, 4, 8
  ASSERT_EQ(rows.rows(), 3);
  EXPECT_EQ(rows.data()[2], 8.0f);
  EXPECT_EQ(rows.data()[4], 16.0f);
}

}  // namespace
}  // namespace qvit
