// qvit's packed AVX-512 GEMM against a double-precision reference, on shapes with row and column
// tails and K blocks (1..10, 15/16/17, 31/32/33, a deep K), with and without bias.
#include "ir/ops/packed_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace qvit {
namespace {

TEST(PackedGemm, MatchesNaiveOnEdgeShapes) {
  if (!packed_gemm_available()) GTEST_SKIP() << "CPU without AVX-512 (or QVIT_GEMM=blas): Linear uses OpenBLAS";
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1, 1);
  for (int64_t m : {1, 7, 8, 9, 17, 64, 65, 130})
    for (int64_t k : {1, 15, 16, 33, 257, 600})
      for (int64_t n : {1, 16, 17, 31, 32, 33, 100}) {
        std::vector<float> x(static_cast<size_t>(m * k)), w(static_cast<size_t>(k * n)), b(static_cast<size_t>(n)),
            y(static_cast<size_t>(m * n), NAN);
        for (auto& v : x) v = d(rng);
        for (auto& v : w) v = d(rng);
        for (auto& v : b) v = d(rng);
        const PackedWeights p = pack_weights(w.data(), k, n);
        for (bool with_bias : {false, true}) {
          packed_gemm(x.data(), m, p, with_bias ? b.data() : nullptr, y.data());
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double acc = with_bias ? b[j] : 0.0;
              for (int64_t t = 0; t < k; ++t) acc += double(x[i * k + t]) * w[t * n + j];
              ASSERT_NEAR(y[i * n + j], acc, 1e-5 * (1 + std::sqrt(double(k)))) << m << "x" << k << "x" << n;
            }
        }
      }
}

}  // namespace
}  // namespace qvit
