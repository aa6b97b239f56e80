// Folding and fusion rewrite exporter patterns without changing what the graph computes.
#include <gtest/gtest.h>

#include <cmath>

#include "ir/fold.h"
#include "ir/fuse.h"
#include "ir_test_util.h"

namespace qvit {
namespace {

using test::GraphBuilder;
using test::random_tensor;

int count_ops(const Graph& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.nodes) n += node.op == op;
  return n;
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  float m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a.data<float>()[i] - b.data<float>()[i]));
  return m;
}

// torch.onnx (opset 13) LayerNorm → MatMul+Add (Linear) → erf GELU, plus a shape subgraph
// (Shape → Gather → Unsqueeze → Concat → Reshape) that must fold away.
Graph exporter_style_block() {
  GraphBuilder b;
  const int64_t C = 16;
  int x = b.input("x", {2, 5, C});
  auto axes = std::map<std::string, AttrValue>{{"axes", std::vector<int64_t>{-1}}};
  int m = b.node("ReduceMean", {x}, axes);
  int d = b.node("Sub", {x, m});
  int p = b.node("Pow", {d, b.constant("two", Tensor::scalar<float>(2.0f))});
  int v = b.node("ReduceMean", {p}, axes);
  int e = b.node("Add", {v, b.constant("eps", Tensor::scalar<float>(1e-6f))});
  int s = b.node("Sqrt", {e});
  int n = b.node("Div", {d, s});
  int gm = b.node("Mul", {n, b.constant("gamma", random_tensor({C}, 1))});
  int ln = b.node("Add", {gm, b.constant("beta", random_tensor({C}, 2))});
  int mm = b.node("MatMul", {ln, b.constant("W", random_tensor({C, 32}, 3))});
  int lin = b.node("Add", {mm, b.constant("bias", random_tensor({32}, 4))});
  int dv = b.node("Div", {lin, b.constant("sqrt2", Tensor::scalar<float>(1.4142135381698608f))});
  int er = b.node("Erf", {dv});
  int a1 = b.node("Add", {er, b.constant("one", Tensor::scalar<float>(1.0f))});
  int m1 = b.node("Mul", {lin, a1});
  int gelu = b.node("Mul", {m1, b.constant("half", Tensor::scalar<float>(0.5f))});
  int shp = b.node("Shape", {gelu});
  int n0 = b.node("Gather", {shp, b.constant("i0", Tensor::scalar<int64_t>(0))}, {{"axis", int64_t{0}}});
  int u0 = b.node("Unsqueeze", {n0, b.constant("ax0", Tensor::from_vector<int64_t>({1}, {0}))});
  int tail = b.constant("tail", Tensor::from_vector<int64_t>({1}, {-1}));
  int target = b.node("Concat", {u0, tail}, {{"axis", int64_t{0}}});
  int out = b.node("Reshape", {gelu, target});
  return b.finish({out});
}

TEST(Fusion, FoldsShapesAndFusesLayerNormLinearGelu) {
  Graph raw = exporter_style_block();
  Tensor in = random_tensor({2, 5, 16}, 7, -2, 3);
  const Tensor want = test::run1(raw, {in});
  Graph g = exporter_style_block();
  fold_constants(g);
  fuse_patterns(g);
  EXPECT_EQ(count_ops(g, "LayerNorm"), 1);
  EXPECT_EQ(count_ops(g, "Linear"), 1);
  EXPECT_EQ(count_ops(g, "Gelu"), 1);
  EXPECT_EQ(count_ops(g, "Shape"), 0);
  EXPECT_EQ(count_ops(g, "Erf"), 0);
  EXPECT_EQ(g.nodes.size(), 4u) << "LayerNorm, Linear, Gelu, Reshape";
  const Tensor got = test::run1(g, {in});
  ASSERT_EQ(got.shape(), (Shape{2, 160}));
  EXPECT_LT(max_abs_diff(got, want), 1e-5f);
}

TEST(Fusion, LeavesPatternsWithExtraReadersAlone) {
  // The centered tensor `d` also feeds the output: fusing would lose it.
  GraphBuilder b;
  int x = b.input("x", {3, 8});
  auto axes = std::map<std::string, AttrValue>{{"axes", std::vector<int64_t>{-1}}};
  int m = b.node("ReduceMean", {x}, axes);
  int d = b.node("Sub", {x, m});
  int p = b.node("Pow", {d, b.constant("two", Tensor::scalar<float>(2.0f))});
  int v = b.node("ReduceMean", {p}, axes);
  int e = b.node("Add", {v, b.constant("eps", Tensor::scalar<float>(1e-5f))});
  int s = b.node("Sqrt", {e});
  int n = b.node("Div", {d, s});
  Graph g = b.finish({n, d});
  fuse_patterns(g);
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
}

}  // namespace
}  // namespace qvit
