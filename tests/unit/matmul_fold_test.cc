// Folding attention's data movement into its MatMuls (ir/matmul_fold.h): strided views of reshapes,
// and the folded plan against the plain one on a synthetic head split and on the committed
// ViT/Swin parity models.
#include "ir/matmul_fold.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ir/ops/packed_gemm.h"
#include "ir_test_util.h"
#include "onnx/onnx_import.h"

namespace qvit {
namespace {

TEST(StridedView, ReshapeSplitsAndMergesContiguousAxes) {
  const StridedView x = StridedView::contiguous({5, 1, 12});
  auto split = reshape_view(x, {5, 3, 4});
  ASSERT_TRUE(split);
  EXPECT_EQ(split->strides, (std::vector<int64_t>{12, 4, 1}));
  auto merged = reshape_view(*split, {1, 60});
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->strides.back(), 1);
}

TEST(StridedView, ReshapeAcrossATransposeIsNotAView) {
  // [5,3,4] transposed to [3,5,4]: merging the first two axes would need a copy.
  StridedView t{{3, 5, 4}, {4, 12, 1}, 0};
  EXPECT_FALSE(reshape_view(t, {15, 4}));
  // Splitting the contiguous last axis still works, and size-1 axes come and go freely.
  auto s = reshape_view(t, {3, 1, 5, 2, 2});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->strides[2], 12);
  EXPECT_EQ(s->strides[3], 2);
  EXPECT_EQ(s->strides[4], 1);
  EXPECT_FALSE(reshape_view(t, {7, 4}));
}

// Graph-builder graphs carry no static shapes; give them the shapes of one plain run.
void set_shapes_from_run(Graph& g, const std::vector<Tensor>& inputs) {
  const auto all = Executor(g).run_all(inputs);
  for (size_t v = 0; v < g.values.size(); ++v)
    if (all[v].defined()) g.values[v].shape = all[v].shape();
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, std::abs(double(a.data<float>()[i]) - b.data<float>()[i]));
  return d;
}

TEST(MatMulFold, HeadSplitAttentionMatchesThePlainPlan) {
  if (!packed_gemm_available()) GTEST_SKIP() << "folding runs only with the packed AVX-512 GEMM";
  test::GraphBuilder b;
  // torchvision's MultiheadAttention layout: [seq, batch, 3·heads·dim] → q, k, v heads.
  const int64_t seq = 7, heads = 3, dim = 5;
  const int x = b.input("x", {seq, 1, 3 * heads * dim});
  auto ints = [&](const std::string& name, std::vector<int64_t> v) {
    Tensor t(DType::Int64, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
    return b.constant(name, t);
  };
  const int axis = ints("axis", {2}), shape = ints("shape", {seq, heads, dim}), merged = ints("merged", {seq, heads * dim});
  auto head = [&](int64_t part) {
    const int s = b.node("Slice", {x, ints("s" + std::to_string(part), {part * heads * dim}),
                                   ints("e" + std::to_string(part), {(part + 1) * heads * dim}), axis});
    return b.node("Transpose", {b.node("Reshape", {s, shape})}, {{"perm", std::vector<int64_t>{1, 0, 2}}});
  };
  Tensor three(DType::Float32, {});
  three.data<float>()[0] = 3.0f;  // not a power of two: the folded scale is rounded differently
  const int q = b.node("Div", {head(0), b.constant("three", three)});
  const int kt = b.node("Transpose", {head(1)}, {{"perm", std::vector<int64_t>{0, 2, 1}}});
  const int attn = b.node("Softmax", {b.node("MatMul", {q, kt})}, {{"axis", int64_t{-1}}});
  const int ctx = b.node("Transpose", {b.node("MatMul", {attn, head(2)})}, {{"perm", std::vector<int64_t>{1, 0, 2}}});
  const int y = b.node("Reshape", {ctx, merged});
  Graph g = b.finish({y});
  const std::vector<Tensor> inputs{test::random_tensor({seq, 1, 3 * heads * dim}, 3)};
  set_shapes_from_run(g, inputs);

  const FoldPlan plan = plan_matmul_folding(g);
  // q: Slice, Reshape, Transpose, Div; k: Slice, Reshape, 2 Transposes; v: Slice, Reshape, Transpose;
  // and the Transpose after attn·V.
  EXPECT_EQ(plan.folded_nodes, 12);
  Executor ex(g);
  const Tensor folded = ex.run(inputs).at(0);
  const Tensor plain = ex.run_all(inputs).at(static_cast<size_t>(y));
  EXPECT_LE(max_abs_diff(folded, plain), 1e-6);
}

class FoldedModel : public ::testing::TestWithParam<std::string> {};

TEST_P(FoldedModel, MatchesThePlainPlan) {
  if (!packed_gemm_available()) GTEST_SKIP() << "folding runs only with the packed AVX-512 GEMM";
  const std::filesystem::path dir = std::filesystem::path(QVIT_SOURCE_DIR) / "tests/golden/parity" / GetParam();
  const Tensor x = load_tensor_pb((dir / "test_data_set_0/input_0.pb").string());
  ImportOptions opt;
  opt.batch = x.shape()[0];
  const Graph g = import_onnx((dir / "model.onnx").string(), opt);
  EXPECT_GT(plan_matmul_folding(g).folded_nodes, 0);
  Executor ex(g);
  const Tensor folded = ex.run({x}).at(0);
  const Tensor plain = ex.run_all({x}).at(static_cast<size_t>(g.outputs[0]));
  double scale = 0;
  for (float v : plain.values<float>()) scale = std::max(scale, double(std::abs(v)));
  EXPECT_LE(max_abs_diff(folded, plain), 1e-5 * scale);
}

INSTANTIATE_TEST_SUITE_P(Committed, FoldedModel, ::testing::Values("vit_tiny_op17", "swin_tiny_op17"));

}  // namespace
}  // namespace qvit
