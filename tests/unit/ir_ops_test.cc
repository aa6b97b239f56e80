// Float op kernels against naive double-precision references, on small random shapes.
#include <gtest/gtest.h>

#include <cmath>

#include "ir/ops/fast_math.h"
#include "ir_test_util.h"

namespace qvit {
namespace {

using test::GraphBuilder;
using test::random_tensor;

TEST(Tensor, ReshapeCastAndInts) {
  Tensor t = Tensor::from_vector<float>({2, 3}, {1.5f, -2.7f, 3, 4, 5, 6});
  EXPECT_EQ(t.reshaped({3, 2}).shape(), (Shape{3, 2}));
  EXPECT_THROW(t.reshaped({4, 2}), Error);
  Tensor i = t.cast(DType::Int64);
  EXPECT_EQ(i.as_int64s(), (std::vector<int64_t>{1, -2, 3, 4, 5, 6}));  // truncation toward zero
  EXPECT_THROW(t.data<int64_t>(), InternalError);
  EXPECT_THROW(t.as_int64s(), Error);
}

TEST(FastMath, ExpErfGeluMatchLibm) {
  std::vector<float> x;
  for (float v = -20.0f; v <= 20.0f; v += 0.0137f) x.push_back(v);
  x.push_back(0.0f);
  x.push_back(-87.0f);
  std::vector<float> e(x.size()), r(x.size()), g(x.size());
  exp_f32(x.data(), e.data(), static_cast<int64_t>(x.size()));
  erf_f32(x.data(), r.data(), static_cast<int64_t>(x.size()));
  gelu_f32(x.data(), g.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double want_e = std::exp(double(x[i])), want_r = std::erf(double(x[i]));
    const double want_g = 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
    EXPECT_NEAR(e[i], want_e, 4e-7 * want_e) << x[i];
    EXPECT_NEAR(r[i], want_r, 4e-7) << x[i];
    EXPECT_NEAR(g[i], want_g, 1e-6 * std::max(1.0, std::fabs(want_g))) << x[i];
  }
  float nan = NAN, out = 0;
  exp_f32(&nan, &out, 1);
  EXPECT_TRUE(std::isnan(out));
}

TEST(Ops, AddBroadcastsLikeNumpy) {
  GraphBuilder b;
  int x = b.input("x", {2, 3, 4});
  int c = b.constant("c", Tensor::from_vector<float>({3, 1}, {10, 20, 30}));
  Graph g = b.finish({b.node("Add", {x, c})});
  Tensor in = random_tensor({2, 3, 4}, 1);
  Tensor y = test::run1(g, {in});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        EXPECT_FLOAT_EQ(y.data<float>()[(i * 3 + j) * 4 + k], in.data<float>()[(i * 3 + j) * 4 + k] + 10.0f * (j + 1));
}

TEST(Ops, BatchedMatMulWithBroadcastMatchesNaive) {
  for (auto [ashape, bshape] : std::vector<std::pair<Shape, Shape>>{{{2, 3, 5, 7}, {2, 3, 7, 4}},
                                                                      {{2, 1, 5, 7}, {1, 3, 7, 4}},
                                                                      {{4, 5, 7}, {7, 6}},
                                                                      {{7}, {3, 7, 2}}}) {
    GraphBuilder b;
    int a = b.input("a", ashape), bb = b.input("b", bshape);
    Graph g = b.finish({b.node("MatMul", {a, bb})});
    Tensor ta = random_tensor(ashape, 2), tb = random_tensor(bshape, 3);
    Tensor y = test::run1(g, {ta, tb});
    // Naive reference through explicit broadcasting of 4-D views.
    auto dims4 = [](Shape s) { while (s.size() < 4) s.insert(s.begin(), 1); return s; };
    Shape a4 = dims4(ashape.size() == 1 ? Shape{1, ashape[0]} : ashape), b4 = dims4(bshape.size() == 1 ? Shape{bshape[0], 1} : bshape);
    const int64_t M = a4[2], K = a4[3], N = b4[3];
    const int64_t B0 = std::max(a4[0], b4[0]), B1 = std::max(a4[1], b4[1]);
    ASSERT_EQ(y.numel(), B0 * B1 * M * N);
    for (int64_t i0 = 0; i0 < B0; ++i0)
      for (int64_t i1 = 0; i1 < B1; ++i1)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            double acc = 0;
            for (int64_t k = 0; k < K; ++k) {
              const int64_t ai = (((a4[0] == 1 ? 0 : i0) * a4[1] + (a4[1] == 1 ? 0 : i1)) * M + m) * K + k;
              const int64_t bi = (((b4[0] == 1 ? 0 : i0) * b4[1] + (b4[1] == 1 ? 0 : i1)) * K + k) * N + n;
              acc += double(ta.data<float>()[ai]) * tb.data<float>()[bi];
            }
            EXPECT_NEAR(y.data<float>()[((i0 * B1 + i1) * M + m) * N + n], acc, 1e-5) << shape_str(ashape);
          }
  }
}

TEST(Ops, ConvMatchesNaive) {
  const Shape xs{2, 4, 9, 8}, ws{6, 2, 3, 3};
  GraphBuilder b;
  int x = b.input("x", xs);
  int w = b.constant("w", random_tensor(ws, 5));
  int bias = b.constant("b", random_tensor({6}, 6));
  Graph g = b.finish({b.node("Conv", {x, w, bias},
                             {{"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 1}},
                              {"pads", std::vector<int64_t>{1, 0, 1, 2}}, {"dilations", std::vector<int64_t>{1, 2}}})});
  Tensor in = random_tensor(xs, 7);
  Tensor y = test::run1(g, {in});
  const Tensor& W = g.constant(w);
  const Tensor& Bv = g.constant(bias);
  const int64_t OH = (9 + 2 - 3) / 2 + 1, OW = (8 + 2 - 5) / 1 + 1;
  ASSERT_EQ(y.shape(), (Shape{2, 6, OH, OW}));
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t m = 0; m < 6; ++m)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = Bv.data<float>()[m];
          const int64_t grp = m / 3;
          for (int64_t c = 0; c < 2; ++c)
            for (int64_t kh = 0; kh < 3; ++kh)
              for (int64_t kw = 0; kw < 3; ++kw) {
                const int64_t ih = oh * 2 - 1 + kh, iw = ow - 0 + kw * 2;
                if (ih < 0 || ih >= 9 || iw < 0 || iw >= 8) continue;
                acc += double(in.data<float>()[((n * 4 + grp * 2 + c) * 9 + ih) * 8 + iw]) *
                       W.data<float>()[((m * 2 + c) * 3 + kh) * 3 + kw];
              }
          EXPECT_NEAR(y.data<float>()[((n * 6 + m) * OH + oh) * OW + ow], acc, 1e-5);
        }
}

TEST(Ops, SoftmaxRowsSumToOneEvenWithExtremes) {
  GraphBuilder b;
  int x = b.input("x", {4, 3072});
  Graph g = b.finish({b.node("Softmax", {x}, {{"axis", int64_t{-1}}})});
  Tensor in = random_tensor({4, 3072}, 9, -5, 5);
  for (int64_t k = 0; k < 3072; ++k) in.data<float>()[k] = 7.0f;        // all-equal row
  in.data<float>()[3072 + 17] = 1e30f;                                  // one huge logit
  for (int64_t k = 0; k < 3072; ++k) in.data<float>()[2 * 3072 + k] = -1e30f;
  Tensor y = test::run1(g, {in});
  for (int r = 0; r < 4; ++r) {
    double s = 0;
    for (int64_t k = 0; k < 3072; ++k) s += y.data<float>()[r * 3072 + k];
    EXPECT_NEAR(s, 1.0, 1e-5) << "row " << r;
  }
  EXPECT_NEAR(y.data<float>()[5], 1.0 / 3072, 1e-9);
  EXPECT_NEAR(y.data<float>()[3072 + 17], 1.0, 1e-7);
}

TEST(Ops, LayerNormMatchesDoubleReference) {
  GraphBuilder b;
  int x = b.input("x", {3, 5, 64});
  int gamma = b.constant("g", random_tensor({64}, 10));
  int beta = b.constant("b", random_tensor({64}, 11));
  Graph g = b.finish({b.node("LayerNorm", {x, gamma, beta}, {{"epsilon", 1e-6f}})});
  Tensor in = random_tensor({3, 5, 64}, 12, -3, 8);
  Tensor y = test::run1(g, {in});
  for (int r = 0; r < 15; ++r) {
    double mean = 0, var = 0;
    for (int k = 0; k < 64; ++k) mean += in.data<float>()[r * 64 + k];
    mean /= 64;
    for (int k = 0; k < 64; ++k) var += std::pow(in.data<float>()[r * 64 + k] - mean, 2);
    var /= 64;
    for (int k = 0; k < 64; ++k) {
      const double want = (in.data<float>()[r * 64 + k] - mean) / std::sqrt(var + 1e-6) * g.constant(gamma).data<float>()[k] +
                          g.constant(beta).data<float>()[k];
      EXPECT_NEAR(y.data<float>()[r * 64 + k], want, 1e-5);
    }
  }
}

TEST(Ops, ErrorsNameTheNode) {
  GraphBuilder b;
  int x = b.input("x", {2, 3});
  int y = b.input("y", {4, 5});
  Graph g = b.finish({b.node("MatMul", {x, y}, {}, "attn/qk")});
  try {
    test::run1(g, {random_tensor({2, 3}, 1), random_tensor({4, 5}, 2)});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 'attn/qk' (MatMul)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qvit
