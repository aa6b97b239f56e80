// QMatMul and QConv on every kernel path equal the saturating reference bit for bit, truncation
// counts included: the int8 GEMM (operands spanning ≤ 256 values: asymmetric grids, 4-bit
// weights, runtime B such as Kᵀ with an offset), the int32 loop (wide operands whose products
// fit) and the reference fallback (sums that saturate), with packed constant weights
// (Executor prepare hook) and without.
#include <gtest/gtest.h>

#include <random>

#include "intgraph/int_matmul.h"
#include "intgraph/int_ops.h"
#include "ir/executor.h"
#include "ir_test_util.h"
#include "kernels/kernel_path.h"
#include "kernels/reference/matmul.h"

namespace qvit {
namespace {

using kernels::KernelPath;

Tensor ints(Shape shape, int32_t lo, int32_t hi, uint32_t seed) { return test::random_ints(std::move(shape), lo, hi, seed); }

struct MatMulRun {
  Tensor y;
  kernels::TruncationStats stats;
};

// y = QMatMul(a, b, bias) with b a constant (packed by the prepare hook) or a second input.
MatMulRun run_qmatmul(const Tensor& a, const Tensor& b, const Tensor& bias, bool b_constant) {
  test::GraphBuilder g;
  const int x = g.input("a", a.shape());
  g.g.values[x].dtype = DType::Int32;
  int bv = 0;
  if (b_constant) {
    bv = g.constant("b", b);
  } else {
    bv = g.input("b", b.shape());
    g.g.values[bv].dtype = DType::Int32;
  }
  const int y = g.node("QMatMul", {x, bv, g.constant("bias", bias)}, {}, "mm");
  Graph graph = g.finish({y});
  IntRunStats stats;
  Executor exec(graph, find_int_op, int_node_preparer());
  std::vector<Tensor> inputs = {a};
  if (!b_constant) inputs.push_back(b);
  MatMulRun r{exec.run(inputs, nullptr, &stats).at(0), {}};
  r.stats = stats.per_node["mm"];
  return r;
}

std::vector<int32_t> reference(const Tensor& a, const Tensor& b, const Tensor& bias, kernels::TruncationStats& stats) {
  const int64_t k = a.dim(-1), n = b.dim(-1), m = a.dim(-2);
  int64_t count = 1;
  for (int d = 0; d + 2 < a.rank(); ++d) count *= a.shape()[d];
  const bool shared = b.rank() == 2;
  std::vector<int32_t> y(static_cast<size_t>(count * m * n));
  for (int64_t i = 0; i < count; ++i)
    kernels::ref::matmul(a.data<int32_t>() + i * m * k, b.data<int32_t>() + (shared ? 0 : i * k * n), bias.data<int32_t>(),
                         y.data() + i * m * n, static_cast<int32_t>(m), static_cast<int32_t>(k), static_cast<int32_t>(n),
                         &stats);
  return y;
}

struct Case {
  Shape a, b;
  int32_t a_lo, a_hi, b_lo, b_hi, bias_max;
  const char* what;
};

TEST(IntMatMulPaths, EveryPathEqualsTheReference) {
  const Case cases[] = {
      {{1, 1}, {1, 1}, -128, 127, -127, 127, 0, "1x1x1"},
      {{7, 384}, {384, 33}, -20, 235, -127, 127, 1 << 20, "asymmetric 8-bit A, 8-bit W"},
      {{197, 64}, {64, 197}, -128, 127, -128, 127, 0, "full int8 range both"},
      {{3, 3072}, {3072, 5}, 0, 255, -8, 7, 100, "4-bit weights, long k"},
      {{17, 31}, {31, 16}, -135, 120, -64, 64, 5, "max|W| 64"},
      {{16, 33}, {33, 17}, -1000, 1000, -127, 127, 0, "wide A: int32 loop"},
      {{2, 33}, {33, 9}, -46340, 46340, -46340, 46340, 0, "k·a·w past int32: reference"},
      {{4, 5}, {5, 6}, 0, 0, -127, 127, 1000, "all-zero activations"},
      {{4, 2}, {2, 3}, INT32_MIN, INT32_MAX, -1, 1, 0, "INT32 extremes: reference"},
      {{2, 12, 10, 8}, {2, 12, 8, 10}, -128, 127, 100, 355, 0, "batched runtime B with an offset"},
      {{3, 9, 15}, {3, 15, 17}, 0, 255, 0, 255, 7, "batched P·V, unsigned both"},
      {{2, 4, 3}, {2, 3, 5}, 0, 300, 0, 1, 0, "batched, A wider than 256 values"},
      {{0, 8}, {8, 4}, -128, 127, -127, 127, 0, "empty"},
  };
  uint32_t seed = 7;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const Tensor a = ints(c.a, c.a_lo, c.a_hi, seed++);
    const Tensor b = ints(c.b, c.b_lo, c.b_hi, seed++);
    const Tensor bias = ints({c.b.back()}, -c.bias_max, c.bias_max, seed++);
    kernels::TruncationStats ref_stats;
    const std::vector<int32_t> expect = reference(a, b, bias, ref_stats);
    for (KernelPath p : kernels::supported_kernel_paths()) {
      kernels::ScopedKernelPath scoped(p);
      for (bool constant : {true, false}) {
        if (constant && c.b.size() != 2) continue;
        SCOPED_TRACE(std::string(kernels::kernel_path_name(p)) + (constant ? " constant B" : " runtime B"));
        const MatMulRun r = run_qmatmul(a, b, bias, constant);
        ASSERT_EQ(r.y.numel(), static_cast<int64_t>(expect.size()));
        int64_t differing = 0;
        for (int64_t i = 0; i < r.y.numel(); ++i) differing += r.y.data<int32_t>()[i] != expect[i];
        EXPECT_EQ(differing, 0);
        EXPECT_EQ(r.stats.events, ref_stats.events);
        EXPECT_EQ(r.stats.elements, ref_stats.elements);
      }
    }
  }
}

TEST(IntMatMulPaths, WeightsPackedForOnePathStillRunOnAnother) {
  const Tensor a = ints({9, 40}, -20, 235, 1), b = ints({40, 24}, -127, 127, 2), bias = ints({24}, -99, 99, 3);
  kernels::TruncationStats ref_stats;
  const std::vector<int32_t> expect = reference(a, b, bias, ref_stats);
  test::GraphBuilder g;
  const int x = g.input("a", a.shape());
  g.g.values[x].dtype = DType::Int32;
  const int y = g.node("QMatMul", {x, g.constant("b", b), g.constant("bias", bias)}, {}, "mm");
  Graph graph = g.finish({y});
  const Executor exec(graph, find_int_op, int_node_preparer());  // packed for the path active now
  for (KernelPath p : kernels::supported_kernel_paths()) {
    kernels::ScopedKernelPath scoped(p);
    const Tensor out = exec.run({a}).at(0);
    for (int64_t i = 0; i < out.numel(); ++i) ASSERT_EQ(out.data<int32_t>()[i], expect[i]) << kernels::kernel_path_name(p);
  }
}

TEST(IntMatMulPaths, ConvEqualsTheReferenceOnEveryPath) {
  // 3 input channels, 5×7 image, 4 filters 3×3, stride 2, padding 1: padding taps read 0.
  const Tensor x = ints({2, 3, 5, 7}, -20, 235, 11), w = ints({4, 3, 3, 3}, -127, 127, 12), bias = ints({4}, -50, 50, 13);
  test::GraphBuilder g;
  const int xi = g.input("x", x.shape());
  g.g.values[xi].dtype = DType::Int32;
  const int y = g.node("QConv", {xi, g.constant("w", w), g.constant("bias", bias)},
                       {{"strides", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}}, "conv");
  Graph graph = g.finish({y});
  Tensor expect;
  {
    kernels::ScopedKernelPath scoped(KernelPath::Ref);
    expect = Executor(graph, find_int_op, int_node_preparer()).run({x}).at(0);
  }
  for (KernelPath p : kernels::supported_kernel_paths()) {
    kernels::ScopedKernelPath scoped(p);
    const Tensor out = Executor(graph, find_int_op, int_node_preparer()).run({x}).at(0);
    ASSERT_EQ(out.shape(), expect.shape());
    for (int64_t i = 0; i < out.numel(); ++i) ASSERT_EQ(out.data<int32_t>()[i], expect.data<int32_t>()[i]) << kernels::kernel_path_name(p);
  }
}

}  // namespace
}  // namespace qvit
