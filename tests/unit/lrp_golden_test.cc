// LRP layer scores on the tiny ViT against an independent numpy implementation of the same rules
// (tools/lrp/lrp_numpy_ref.py, float64, its own forward checked against ONNX and torch):
// target class, per-layer (g ⊙ R)⁺ means and ΣR at each layer's input, for three images. Also
// conservation: ΣR = 1 at the head's input (no residual split or α1β0 zero after it), and ΣR
// at the in-projection's input equals what reaches attn·V and proj (pass-through and
// renormalized pairs keep the total exactly).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "calib/importance.h"
#include "calib/layer_inventory.h"
#include "grad/reverse_pass.h"
#include "ir/executor.h"
#include "ir/op_registry.h"
#include "onnx/onnx_import.h"
#include "util/npy.h"

namespace qvit {
namespace {

namespace fs = std::filesystem;
const fs::path kTests = fs::path(QVIT_TEST_DIR);

struct Loaded {
  Graph g;
  LayerInventory inv;
  nlohmann::json golden;
};

Loaded load() {
  Loaded l;
  l.g = import_onnx((kTests / "golden/fuzz_models/tiny_vit.onnx").string());
  l.inv = find_allocation_layers(l.g, 1);
  std::ifstream f(kTests / "golden/lrp/tiny_vit_scores.json");
  l.golden = nlohmann::json::parse(f);
  return l;
}

const InventoryLayer* find(const LayerInventory& inv, const std::string& name, size_t* at) {
  for (size_t i = 0; i < inv.layers.size(); ++i)
    if (inv.layers[i].name == name) {
      *at = i;
      return &inv.layers[i];
    }
  return nullptr;
}

TEST(LrpGolden, ScoresMatchNumpyReference) {
  Loaded l = load();
  ASSERT_EQ(l.inv.layers.size(), 8u);
  ReverseScorer scorer(l.g, l.inv, true);
  ASSERT_EQ(l.golden["cases"].size(), 3u);
  for (const auto& c : l.golden["cases"]) {
    const std::string input = c["input"];
    SCOPED_TRACE(input);
    const Tensor x = read_npy((kTests.parent_path() / input).string());
    const ReverseScorer::ImageScores s = scorer.score_image(x, -1);
    EXPECT_EQ(s.target, c["target"].get<int64_t>());
    for (const auto& gl : c["layers"]) {
      const std::string name = gl["onnx_node"];
      size_t at = 0;
      const InventoryLayer* layer = find(l.inv, name, &at);
      ASSERT_NE(layer, nullptr) << name;
      const double want = gl["score"], got = s.score[at];
      EXPECT_NEAR(got, want, 1e-4 * std::fabs(want) + 1e-12) << name;
      const double want_r = gl["relevance_sum_at_input"], got_r = s.relevance_sum[at];
      EXPECT_NEAR(got_r, want_r, 1e-5) << name;
    }
  }
}

TEST(LrpGolden, RelevanceIsConservedWhereNoRuleDropsAny) {
  Loaded l = load();
  ReverseScorer scorer(l.g, l.inv, true);
  for (int seed : {7, 8, 9}) {
    const Tensor x = read_npy((kTests / ("golden/lrp/tiny_vit_input_" + std::to_string(seed) + ".npy")).string());
    const ReverseScorer::ImageScores s = scorer.score_image(x, -1);
    size_t head = 0, qkv = 0, av = 0, proj = 0;
    ASSERT_TRUE(find(l.inv, "/head/Gemm", &head) && find(l.inv, "/attn/MatMul", &qkv) && find(l.inv, "/attn/MatMul_2", &av) &&
                find(l.inv, "/attn/Gemm", &proj));
    // Only pass-through rules between the logits and the head's input.
    EXPECT_NEAR(s.relevance_sum[head], 1.0, 1e-6);
    // attn·V's two renormalized operands together carry what proj's input carries.
    EXPECT_NEAR(s.relevance_sum[av], s.relevance_sum[proj], 1e-6);
    // Every layer's relevance is finite and at most the logit's (relevance only splits or drops).
    for (double r : s.relevance_sum) {
      EXPECT_TRUE(std::isfinite(r));
      EXPECT_LE(r, 1.0 + 1e-3);
    }
  }
}

TEST(LayerInventory, TinyVitBlocksAndSizes) {
  Loaded l = load();
  EXPECT_EQ(l.inv.blocks, 1);
  std::map<std::string, std::pair<int, std::string>> want = {
      {"/patch/Conv", {-1, "conv"}},     {"/attn/MatMul", {0, "linear"}},      {"/attn/MatMul_1", {0, "matmul"}},
      {"/attn/MatMul_2", {0, "matmul"}}, {"/attn/Gemm", {0, "linear"}},        {"/mlp/mlp.0/MatMul", {0, "linear"}},
      {"/mlp/mlp.2/MatMul", {0, "linear"}}, {"/head/Gemm", {1, "linear"}}};
  for (const auto& layer : l.inv.layers) {
    ASSERT_TRUE(want.count(layer.name)) << layer.name;
    EXPECT_EQ(layer.block, want[layer.name].first) << layer.name;
    EXPECT_EQ(layer.kind, want[layer.name].second) << layer.name;
  }
  size_t at = 0;
  EXPECT_EQ(find(l.inv, "/patch/Conv", &at)->activation_count, 28 * 28);
  EXPECT_EQ(find(l.inv, "/mlp/mlp.0/MatMul", &at)->weight_count, 8 * 16);
  EXPECT_EQ(find(l.inv, "/attn/MatMul_1", &at)->activation_count, 2 * 17 * 4 * 2);
  EXPECT_EQ(find(l.inv, "/attn/MatMul_1", &at)->weight_count, 0);
}

}  // namespace
}  // namespace qvit

namespace qvit {
namespace {

// Per node of the tiny ViT: the relevance its inputs receive sums to what its outputs carry.
// Exceptions, accounted for exactly: an α1β0 layer drops the relevance of outputs whose positive
// contributions sum to zero (Z = 0); a Concat with a constant (the class token) keeps the
// constant's share out of the activations.
TEST(LrpConservation, EveryNodeKeepsTheTotal) {
  const Graph g = import_onnx((kTests / "golden/fuzz_models/tiny_vit.onnx").string());
  ReversePass pass(g, {vjp_rule, lrp_rule});
  std::vector<int> all;
  for (size_t v = 0; v < g.values.size(); ++v)
    if (pass.differentiable(static_cast<int>(v))) all.push_back(static_cast<int>(v));
  for (int seed : {7, 8, 9}) {
    const Tensor x = read_npy((kTests / ("golden/lrp/tiny_vit_input_" + std::to_string(seed) + ".npy")).string());
    // Keep every value so Z can be recomputed here.
    const std::vector<Tensor> values = Executor(g).run_all({x});
    const ReversePass::Tape tape = pass.forward({x});
    const Tensor& logits = tape.values[static_cast<size_t>(g.outputs[0])];
    Tensor seed_t(DType::Float32, logits.shape());
    const float* row = logits.data<float>();
    seed_t.data<float>()[std::max_element(row, row + logits.numel()) - row] = 1.0f;
    const std::vector<Tensor> rel = pass.backward(tape, lrp_rule, 0, seed_t, all);
    std::map<int, double> total;
    for (size_t k = 0; k < all.size(); ++k)
      if (rel[k].defined()) total[all[k]] = std::accumulate(rel[k].values<float>().begin(), rel[k].values<float>().end(), 0.0);
    int checked = 0;
    for (const Node& n : g.nodes) {
      // The node's own rule on the real forward values and its outputs' complete relevance (a
      // value read by several nodes sums all of theirs, so totals alone cannot be split per node).
      BackwardCall call{n, g.opset, {}, {}, {}, {}, {}, {}, {}};
      bool has_in = false, skip = false;
      for (int v : n.inputs) {
        call.in.push_back(v < 0 ? nullptr : &values[static_cast<size_t>(v)]);
        call.in_shape.push_back(v < 0 ? Shape{} : values[static_cast<size_t>(v)].shape());
        call.constant.push_back(v >= 0 && g.is_constant(v));
        call.wants.push_back(v >= 0 && pass.differentiable(v));
        has_in = has_in || call.wants.back();
        if (n.op == "Concat" && v >= 0 && g.is_constant(v)) skip = true;
      }
      double out = 0;
      std::vector<Tensor> zeros(n.outputs.size());
      for (size_t o = 0; o < n.outputs.size(); ++o) {
        const int v = n.outputs[o];
        const auto k = static_cast<size_t>(std::find(all.begin(), all.end(), v) - all.begin());
        call.out.push_back(&values[static_cast<size_t>(v)]);
        call.out_shape.push_back(values[static_cast<size_t>(v)].shape());
        call.cot.push_back(k < all.size() && rel[k].defined() ? &rel[k] : nullptr);
        if (call.cot.back()) out += total[v];
      }
      if (!has_in || skip || !pass.differentiable(n.outputs[0])) continue;
      std::vector<Tensor> in_rel(n.inputs.size());
      lrp_rule(n.op)->fn(call, in_rel);
      double in = 0;
      for (const Tensor& t : in_rel)
        if (t.defined()) in += std::accumulate(t.values<float>().begin(), t.values<float>().end(), 0.0);
      double dropped = 0;
      if (n.op == "Linear" || n.op == "Conv") {
        auto part = [&](bool positive) {
          Tensor xs = values[static_cast<size_t>(n.inputs[0])], ws = g.constant(n.inputs[1]);
          for (float& e : xs.values<float>()) e = positive ? std::max(e, 0.f) : std::min(e, 0.f);
          for (float& e : ws.values<float>()) e = positive ? std::max(e, 0.f) : std::min(e, 0.f);
          OpCall call{n, {&xs, &ws}, g.opset};
          std::vector<Tensor> o(1);
          find_op(n.op)(call, o);
          return o[0];
        };
        const Tensor zp = part(true), zn = part(false);
        const auto k = static_cast<size_t>(std::find(all.begin(), all.end(), n.outputs[0]) - all.begin());
        for (int64_t e = 0; e < zp.numel(); ++e)
          if (zp.data<float>()[e] + zn.data<float>()[e] == 0.f) dropped += rel[k].data<float>()[e];
      }
      EXPECT_NEAR(in, out - dropped, 1e-5 * (1 + std::fabs(out))) << n.describe() << " seed " << seed;
      ++checked;
    }
    EXPECT_GT(checked, 20);
  }
}

}  // namespace
}  // namespace qvit
