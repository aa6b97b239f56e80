// RepQ-ViT / CRL reparameterization leaves the float function unchanged, and recipes and
// calibration results validate strictly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "calib/calibration_result.h"
#include "calib/quant_plan.h"
#include "calib/recipe.h"
#include "calib/reparam.h"
#include "ir/fold.h"
#include "ir_test_util.h"

namespace qvit {
namespace {

using test::GraphBuilder;
using test::random_tensor;

// LayerNorm → {Linear qkv, Reshape → Linear fc} and a residual, as in a pre-LN block.
Graph ln_block() {
  GraphBuilder b;
  const int64_t C = 24;
  int x = b.input("x", {2, 7, C});
  int ln = b.node("LayerNorm", {x, b.constant("g", random_tensor({C}, 1, 0.5f, 1.5f)), b.constant("b", random_tensor({C}, 2))},
                  {{"epsilon", 1e-6f}}, "ln");
  int q = b.node("Linear", {ln, b.constant("W1", random_tensor({C, 16}, 3)), b.constant("b1", random_tensor({16}, 4))}, {}, "qkv");
  int r = b.node("Reshape", {ln, b.constant("s", Tensor::from_vector<int64_t>({2}, {14, C}))}, {}, "flat");
  int f = b.node("Linear", {r, b.constant("W2", random_tensor({C, 8}, 5))}, {}, "fc");
  return b.finish({q, f, b.node("Add", {ln, x}, {}, "residual")});
}

TEST(Reparam, FloatOutputsOfEveryChangedPairUnchanged) {
  Graph g = ln_block();
  fold_constants(g);  // records static shapes
  const auto sites = find_reparam_sites(g);
  // The residual Add reads the LayerNorm output too, so this LayerNorm is not a site...
  EXPECT_TRUE(sites.empty());
  // ...but without the residual it is, with both Linears (one through a Reshape).
  Graph h = ln_block();
  h.outputs.pop_back();
  fold_constants(h);
  const auto sites2 = find_reparam_sites(h);
  ASSERT_EQ(sites2.size(), 1u);
  EXPECT_EQ(sites2[0].linears.size(), 2u);

  Tensor in = random_tensor({2, 7, 24}, 9, -3, 3);
  const std::vector<Tensor> before = Executor(h).run({in});
  std::vector<Range> ranges;
  for (int c = 0; c < 24; ++c) ranges.push_back({-1.0f - 0.3f * c, 0.5f + 0.7f * static_cast<float>(c % 5)});
  for (double k : {0.0, 1.0, 3.0}) {
    Graph g2 = h;
    LayerNormReparam r = compute_reparam(ranges, 4, k);
    r.layernorm = "ln";
    r.consumers = {"qkv", "fc"};
    apply_reparam(g2, r);
    const std::vector<Tensor> after = Executor(g2).run({in});
    for (size_t o = 0; o < before.size(); ++o)
      for (int64_t i = 0; i < before[o].numel(); ++i)
        ASSERT_NEAR(after[o].data<float>()[i], before[o].data<float>()[i], 2e-5f * (1 + std::fabs(before[o].data<float>()[i])))
            << "k=" << k << " output " << o;
  }
  (void)g;
}

TEST(Reparam, CrlClipsOutlierChannelScales) {
  std::vector<Range> ranges(32, Range{-1, 1});
  ranges[5] = {-40, 40};  // one outlier channel
  const LayerNormReparam plain = compute_reparam(ranges, 4, 0.0);
  const LayerNormReparam clipped = compute_reparam(ranges, 4, 1.0);
  EXPECT_GT(plain.r1[5], 10.0f);
  EXPECT_LT(clipped.r1[5], plain.r1[5]);
}

TEST(Recipe, RejectsBadFieldsWithTheirNames) {
  const std::string ok = R"({"format": "qvit.recipe/1", "name": "r", "weights": {"bits": 4}, "activations": {"bits": 4}})";
  EXPECT_NO_THROW(parse_recipe(ok, "r.json"));
  auto expect_error = [](const std::string& text, const std::string& needle) {
    try {
      parse_recipe(text, "r.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(R"({"format": "qvit.recipe/2", "name": "r", "weights": {"bits": 4}, "activations": {"bits": 4}})", "format");
  expect_error(R"({"format": "qvit.recipe/1", "name": "r", "weights": {"bits": 9}, "activations": {"bits": 4}})", "weights.bits");
  expect_error(R"({"format": "qvit.recipe/1", "name": "r", "weights": {"bits": 4}, "activations": {"bits": 4, "obsrver": "minmax"}})",
               "activations.obsrver");
  expect_error(R"({"format": "qvit.recipe/1", "name": "r", "weights": {"bits": 4}, "activations": {"bits": 4, "percentile": [99, 1]}})",
               "percentile");
  expect_error(R"({"format": "qvit.recipe/1", "name": "r", "weights": {"bits": 4}, "activations": {"bits": 4},
                   "post_layernorm": {"mode": "reparam", "clip_k": 2}})", "clip_k");
  expect_error(R"({"format": "qvit.recipe/1", "name": "r", "weights": {"bits": 4}})", "activations");
  expect_error("{not json", "invalid JSON");
}

TEST(Recipe, LayerOverridesByGlob) {
  const Recipe r = parse_recipe(R"({"format": "qvit.recipe/1", "name": "mixed", "weights": {"bits": 4}, "activations": {"bits": 4},
      "layers": [{"pattern": "/blocks.0/*", "weight_bits": 8, "activation_bits": 8}, {"pattern": "*head*", "weight_bits": 6}]})",
                                "m.json");
  EXPECT_EQ(r.weight_bits_for("/blocks.0/attn/qkv/MatMul"), 8);
  EXPECT_EQ(r.activation_bits_for("/blocks.0/attn/qkv/MatMul"), 8);
  EXPECT_EQ(r.weight_bits_for("/blocks.1/attn/qkv/MatMul"), 4);
  EXPECT_EQ(r.weight_bits_for("/head/Gemm"), 6);
  EXPECT_EQ(r.activation_bits_for("/head/Gemm"), 4);
}

TEST(CalibrationResult, JsonRoundTripAndVersionCheck) {
  CalibrationResult c;
  c.model = "m.onnx";
  c.model_sha256 = "abc";
  c.recipe = parse_recipe(R"({"format": "qvit.recipe/1", "name": "r", "weights": {"bits": 4}, "activations": {"bits": 6},
                              "softmax": {"quantizer": "log_sqrt2", "bits": 4}, "post_layernorm": {"mode": "crl", "clip_k": 2.5}})",
                          "r.json");
  c.samples = 2;
  c.sample_ids = {"a.png", "b.png"};
  c.reparams.push_back({"ln", {"qkv", "fc"}, {1.0f, 0.5f}, {0.25f, -0.125f}});
  c.weights.push_back({"qkv", {QuantScheme::Symmetric, 4, 1, {0.1f, 0.2f}, {}}});
  c.activations.push_back({"x", "input", QuantParams{QuantScheme::Asymmetric, 6, 0.05f, 12}, -0.6f, 2.5f});
  c.activations.push_back({"p", "softmax", QuantParams{QuantScheme::LogSqrt2, 4, 1.0f, 0}, 0.0f, 1.0f});
  c.softmax.push_back({"attn/Softmax", 197, 19, 19, 29, 13, 2.5e-8});
  const std::string text = c.to_json();
  const CalibrationResult r = parse_calibration_result(text, "c.json");
  EXPECT_EQ(r.to_json(), text);
  EXPECT_EQ(r.recipe.clip_k, 2.5);
  EXPECT_EQ(r.activations[1].params.scheme, QuantScheme::LogSqrt2);
  ASSERT_EQ(r.softmax.size(), 1u);
  EXPECT_EQ(r.softmax[0].m_star, 19);
  EXPECT_EQ(r.softmax[0].smallest_gap, 29);
  // Files written before the gap rule existed lack "smallest_gap" and still load.
  nlohmann::json older = nlohmann::json::parse(text);
  ASSERT_EQ(older["softmax"][0].erase("smallest_gap"), 1u);
  EXPECT_EQ(parse_calibration_result(older.dump(), "c.json").softmax.at(0).smallest_gap, 0);
  std::string wrong = text;
  wrong.replace(wrong.find("qvit.calib/1"), 12, "qvit.calib/9");
  EXPECT_THROW(parse_calibration_result(wrong, "c.json"), Error);
}

}  // namespace
}  // namespace qvit
