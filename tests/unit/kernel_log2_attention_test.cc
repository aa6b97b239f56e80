// Log-sqrt2 codes and attn*V by shifts against double references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernel_bounds.h"
#include "kernels/kernel_params.h"
#include "kernels/reference/log2_attention.h"
#include "kernels/reference/shiftmax.h"

namespace qvit::kernels {
namespace {

using ref::prob_to_log2_code;
using testing::random_ints;

TEST(KernelLog2, CodesMatchRoundedMinusTwoLog2) {
  for (int32_t f : {7, 15, 31}) {
    for (int32_t p = 1; p < (1 << 20); p = p * 17 / 16 + 1) {
      if (f < 31 && p > (1 << f)) break;
      const int32_t code = prob_to_log2_code(p, f, 8);
      const double exact = -2.0 * std::log2(p * std::ldexp(1.0, -f));
      // exact rounding except within 2^-15 relative of a threshold
      EXPECT_LE(std::fabs(code - std::clamp(std::round(exact), 0.0, 256.0)), 1.0) << p << " f " << f;
      if (std::fabs(exact - std::floor(exact) - 0.5) > 1e-3) {
        ASSERT_EQ(code, std::clamp(std::round(exact), 0.0, 256.0)) << p << " f " << f;
      }
    }
  }
  EXPECT_EQ(prob_to_log2_code(0, 15, 4), 16);          // zero -> the zero code 2^b
  EXPECT_EQ(prob_to_log2_code(1 << 15, 15, 4), 0);     // p = 1
  EXPECT_EQ(prob_to_log2_code(1, 15, 4), 16);          // 2^-15 -> code 30 -> past the last code: zero
  EXPECT_EQ(prob_to_log2_code(181, 15, 4), 15);        // 2^-7.5: the last real code
  EXPECT_EQ(prob_to_log2_code(23170, 15, 4), 1);       // 2^-0.5
}

TEST(KernelLog2, ShiftAddMatmulMatchesDoubleWithinHalfUnitPerTerm) {
  for (int32_t k : {1, 197, 3072}) {
    const int32_t m = 3, n = 5, bits = 4;
    const auto codes = random_ints(m * k, 0, 1 << bits, 5 + k);
    const auto v = random_ints(k * n, -128, 127, 6 + k);
    const ref::Log2MatmulParams p = make_log2_matmul_params(k, 128, bits);
    EXPECT_TRUE(fits_int32(log2_matmul_bound(p, k, 128)));
    std::vector<int32_t> out(m * n);
    TruncationStats stats;
    ref::log2_matmul(codes.data(), v.data(), out.data(), m, k, n, p, &stats);
    EXPECT_EQ(stats.events, 0u);
    for (int32_t i = 0; i < m; ++i)
      for (int32_t c = 0; c < n; ++c) {
        double exact = 0;
        for (int32_t j = 0; j < k; ++j) {
          const int32_t q = codes[i * k + j];
          if (q != (1 << bits)) exact += v[j * n + c] * std::exp2(-q / 2.0);
        }
        // each term: 1/2 unit of 2^-F from its rounding shift, plus sqrt2's rounding in c
        const double tol = k * (0.5 + 128 * 0.5);  // in units of 2^-F: 1/2 per shift, V * 1/2 from c
        ASSERT_LE(std::fabs(out[i * n + c] * std::ldexp(1.0, -p.frac_bits) - exact),
                  tol * std::ldexp(1.0, -p.frac_bits) + 1e-9)
            << "k " << k;
      }
  }
  // F too large for the row: the accumulator saturates and is counted.
  std::vector<int32_t> codes(3072, 0), v(3072, 127), out(1);
  TruncationStats stats;
  ref::log2_matmul(codes.data(), v.data(), out.data(), 1, 3072, 1, ref::Log2MatmulParams{20, 1482910, 4}, &stats);
  EXPECT_EQ(stats.events, 1u);
  EXPECT_EQ(out[0], kInt32Max);
}

TEST(KernelLog2, ShiftmaxLog2OutputEqualsCodesOfItsQ31Probabilities) {
  const int32_t cols = 197;
  const auto x = random_ints(cols, -128, 127, 8);
  std::vector<int32_t> codes(cols), uniform(cols);
  ref::shiftmax(x.data(), codes.data(), 1, cols, make_shiftmax_params(1.0 / 16, 15, {ref::ProbFormat::kLog2, 4}),
                nullptr);
  ref::shiftmax(x.data(), uniform.data(), 1, cols, make_shiftmax_params(1.0 / 16, 15, {ref::ProbFormat::kUniform, 31}),
                nullptr);
  for (int32_t j = 0; j < cols; ++j) EXPECT_EQ(codes[j], prob_to_log2_code(uniform[j], 30, 4));
}

}  // namespace
}  // namespace qvit::kernels
