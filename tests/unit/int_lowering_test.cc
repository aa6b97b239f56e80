// Integer lowering and runtime on small hand-built graphs: the int32 range proof refuses a layer
// whose accumulator can overflow (naming it), and the runtime's fast QMatMul (taken when the
// operands' magnitudes prove no overflow) equals the saturating reference bit for bit.
#include <gtest/gtest.h>

#include <random>

#include "intgraph/int_ops.h"
#include "intgraph/lower.h"
#include "ir/executor.h"
#include "ir_test_util.h"
#include "kernels/reference/matmul.h"

namespace qvit {
namespace {

Tensor ints(Shape shape, int32_t lo, int32_t hi, uint32_t seed) { return test::random_ints(std::move(shape), lo, hi, seed); }

TEST(IntLowering, RangeProofRefusesAnAccumulatorThatCanOverflowNamingTheLayer) {
  // K = 70000 8-bit inputs times 8-bit weights: 70000·255·127 > 2^31.
  const int64_t k = 70000;
  test::GraphBuilder b;
  const int x = b.input("x", {1, k});
  const int w = b.constant("w", test::random_tensor({k, 2}, 1));
  const int y = b.node("Linear", {x, w}, {}, "too_wide_linear");
  Graph g = b.finish({y});
  g.values[y].shape = {1, 2};
  CalibrationResult calib;
  calib.activations.push_back({"x", "input", params_for_range(0.0f, 1.0f, 8, QuantScheme::Asymmetric), 0, 1});
  WeightQuant wq;
  wq.node = "too_wide_linear";
  wq.params.bits = 8;
  wq.params.axis = 1;
  wq.params.scale = {1.0f / 127, 1.0f / 127};
  calib.weights.push_back(wq);
  try {
    lower_to_integer(g, calib, LoweringOptions{});
    FAIL() << "lowering accepted an accumulator that can overflow int32";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("too_wide_linear"), std::string::npos) << what;
    EXPECT_NE(what.find("int32"), std::string::npos) << what;
    std::printf("[ refused ] %s\n", what.c_str());
  }
}

// Runs one QMatMul node on the integer runtime.
Tensor run_qmatmul(const Tensor& a, const Tensor& w, const Tensor& bias, IntRunStats& stats) {
  test::GraphBuilder b;
  const int x = b.input("a", a.shape());
  b.g.values[x].dtype = DType::Int32;
  const int y = b.node("QMatMul", {x, b.constant("w", w), b.constant("bias", bias)}, {}, "mm");
  Graph g = b.finish({y});
  return Executor(g, find_int_op).run({a}, nullptr, &stats).at(0);
}

TEST(IntRuntime, FastMatMulEqualsTheSaturatingReferenceBitForBit) {
  struct Case {
    int64_t m, k, n;
    int32_t a_max, w_max, bias_max;
  };
  const Case cases[] = {
      {1, 1, 1, 255, 127, 0},           {7, 384, 33, 255, 127, 1 << 20},  {3, 3072, 5, 255, 7, 100},
      {5, 17, 64, 1, 1, 0},             {2, 33, 9, 46340, 46340, 0},      // k·a·w just past int32: reference path
      {4, 2, 3, INT32_MAX, 1, 0},       {4, 5, 6, 0, 127, 1000},           // all-zero activations
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const Tensor a = ints({c.m, c.k}, -c.a_max, c.a_max, seed++);
    const Tensor w = ints({c.k, c.n}, -c.w_max, c.w_max, seed++);
    const Tensor bias = ints({c.n}, -c.bias_max, c.bias_max, seed++);
    IntRunStats stats;
    const Tensor y = run_qmatmul(a, w, bias, stats);
    std::vector<int32_t> expect(static_cast<size_t>(c.m * c.n));
    kernels::TruncationStats ref_stats;
    kernels::ref::matmul(a.data<int32_t>(), w.data<int32_t>(), bias.data<int32_t>(), expect.data(),
                         static_cast<int32_t>(c.m), static_cast<int32_t>(c.k), static_cast<int32_t>(c.n), &ref_stats);
    for (int64_t i = 0; i < c.m * c.n; ++i) ASSERT_EQ(y.data<int32_t>()[i], expect[i]) << c.m << "x" << c.k << "x" << c.n;
    EXPECT_EQ(stats.per_node["mm"].events, ref_stats.events);
    EXPECT_EQ(stats.per_node["mm"].elements, static_cast<uint64_t>(c.m * c.n));
  }
}

}  // namespace
}  // namespace qvit
