// Mixed precision end to end through the CLI (issue 10): `calibrate --recipe w4a4-lrp` writes the
// importance of every allocation layer and an allocation within the budget whose widths reach the
// quantizers; `inspect --calib` prints the block × layer table; `eval --int` runs the mixed
// integer model and reports per-layer widths; `export` keeps them (same predictions); the other
// scorers run; models with other layer names and a fixed batch work; bad allocation fields are
// one clear error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const fs::path kRoot = QVIT_SOURCE_DIR;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs qvit with stdout captured.
std::string run_stdout(const std::string& args, int* code) {
  const fs::path out = fs::temp_directory_path() / ("qvit_mp_stdout_" + std::to_string(::getpid()));
  *code = WEXITSTATUS(std::system((std::string(QVIT_BINARY) + " " + args + " >" + out.string() + " 2>/dev/null").c_str()));
  std::string s = slurp(out);
  fs::remove(out);
  return s;
}

class MixedPrecision : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qvit_mp_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string calibrate(const std::string& model, const std::string& recipe, const std::string& out) {
    const auto r = qvit::test::run_qvit("calibrate " + (kRoot / model).string() + " --preset fmnist --recipe " + recipe + " -q -o " +
                                        (dir_ / out).string());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return (dir_ / out).string();
  }
  fs::path dir_;
};

TEST_F(MixedPrecision, LrpCalibrationAllocatesWithinBudgetAndReachesTheQuantizers) {
  const std::string c = calibrate("models/deit_fmnist.onnx", "w4a4-lrp", "a.calib.json");
  const std::string c2 = calibrate("models/deit_fmnist.onnx", "w4a4-lrp", "b.calib.json");
  EXPECT_EQ(slurp(c), slurp(c2)) << "LRP calibration is not deterministic";
  const json j = json::parse(slurp(c));
  ASSERT_TRUE(j.contains("importance") && j.contains("allocation"));
  // 1 patch embedding + 6 blocks × (qkv, QKᵀ, attn·V, proj, fc1, fc2) + head.
  EXPECT_EQ(j["importance"].size(), 38u);
  const json& a = j["allocation"];
  EXPECT_EQ(a["scorer"], "lrp");
  EXPECT_EQ(a["blocks"], 6);
  EXPECT_LE(a["weight_bits_avg"].get<double>(), 4.0 + 1e-9);
  EXPECT_LE(a["activation_bits_avg"].get<double>(), 4.0 + 1e-9);
  EXPECT_GT(a["weight_bits_avg"].get<double>(), 3.9);
  EXPECT_GT(a["activation_bits_avg"].get<double>(), 3.9);
  double mean_rel = 0;
  for (const auto& l : j["importance"]) mean_rel += l["relative"].get<double>() / 38.0;
  EXPECT_NEAR(mean_rel, 1.0, 1e-9);
  std::map<std::string, int> weight_bits;
  std::set<int> widths;
  for (const auto& l : a["layers"]) {
    const int wb = l["weight_bits"], ab = l["activation_bits"];
    if (wb) weight_bits[l["layer"]] = wb, widths.insert(wb);
    widths.insert(ab);
    for (int b : {wb, ab})
      if (b) {
        EXPECT_TRUE(b == 3 || b == 4 || b == 5 || b == 6 || b == 8) << l.dump();
      }
  }
  EXPECT_GT(widths.size(), 2u) << "an LRP allocation that is uniform tells nothing";
  // The widths are the quantizers' widths.
  ASSERT_EQ(j["weights"].size(), weight_bits.size());
  for (const auto& w : j["weights"]) EXPECT_EQ(w["bits"].get<int>(), weight_bits[w["node"]]) << w["node"];
  std::set<int> act_bits;
  for (const auto& p : j["activations"]) act_bits.insert(p["params"]["bits"].get<int>());
  EXPECT_TRUE(act_bits.count(3) && act_bits.count(8)) << "activation grids did not take the allocated widths";

  int code = 0;
  const std::string table = run_stdout("inspect " + (kRoot / "models/deit_fmnist.onnx").string() + " --calib " + c, &code);
  EXPECT_EQ(code, 0);
  for (const char* want : {"allocation  lrp importance", "qkv/MatMul", "fc2/MatMul", "\nstem ", "\nhead ", "\n5 "})
    EXPECT_NE(table.find(want), std::string::npos) << want << " not in:\n" << table;
  const json ij = json::parse(run_stdout("inspect " + (kRoot / "models/deit_fmnist.onnx").string() + " --calib " + c + " --json", &code));
  EXPECT_EQ(ij["allocation"]["layers"].size(), 38u);
  // Another model's calibration is refused.
  run_stdout("inspect " + (kRoot / "models/swin_fmnist.onnx").string() + " --calib " + c, &code);
  EXPECT_NE(code, 0);
}

TEST_F(MixedPrecision, IntegerEvalAndExportUseTheMixedWidths) {
  const std::string c = calibrate("models/deit_fmnist.onnx", "w4a4-lrp", "a.calib.json");
  const std::string model = (kRoot / "models/deit_fmnist.onnx").string();
  const fs::path ej = dir_ / "int.json", xj = dir_ / "exported.json", onnx = dir_ / "mixed.int.onnx";
  auto r = qvit::test::run_qvit("eval " + model + " --preset fmnist --calib " + c + " --int --compare --limit 300 -q --json " + ej.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json e = json::parse(slurp(ej));
  ASSERT_TRUE(e.contains("allocation"));
  EXPECT_EQ(e["allocation"]["layers"].size(), 38u);
  EXPECT_GE(e["agreement_fake_quant"].get<double>(), 90.0);
  uint64_t trunc = 0;
  for (const auto& k : e["truncation_per_kernel"]) trunc += k["truncations"].get<uint64_t>();
  EXPECT_EQ(trunc, 0u);
  r = qvit::test::run_qvit("export " + model + " --calib " + c + " -o " + onnx.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = qvit::test::run_qvit("eval " + onnx.string() + " --preset fmnist --limit 300 -q --json " + xj.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(slurp(xj))["top1"], e["top1"]);
}

TEST_F(MixedPrecision, OtherScorersOtherNamesFixedBatch) {
  const json lrp = json::parse(slurp(calibrate("models/zoo/tv_vit_op17_dyn.onnx", "w4a4-lrp", "tv.calib.json")));
  const json sens = json::parse(slurp(calibrate("models/zoo/tv_vit_op17_dyn.onnx", "w4a4-sens", "tvs.calib.json")));
  EXPECT_EQ(sens["allocation"]["scorer"], "sensitivity");
  EXPECT_EQ(lrp["importance"].size(), sens["importance"].size());
  EXPECT_NE(lrp["allocation"]["layers"], sens["allocation"]["layers"]);
  int matmuls = 0;
  for (const auto& l : lrp["importance"]) matmuls += l["kind"] == "matmul";
  EXPECT_EQ(matmuls, 2 * lrp["allocation"]["blocks"].get<int>()) << "torchvision's attention matmuls not found";
  // A fixed-batch export (batch 2) explains one image per pass all the same.
  const json cct = json::parse(slurp(calibrate("models/zoo/cct_op13_b2.onnx", "w4a4-lrp", "cct.calib.json")));
  EXPECT_GT(cct["importance"].size(), 4u);
  for (const auto& l : cct["importance"]) EXPECT_GE(l["score"].get<double>(), 0.0);
}

// One model exported four ways (opset 13 / 17, fixed batch 2 / dynamic) is one model: the same
// layers, in the same order, with the same importance.
TEST_F(MixedPrecision, ImportanceIsTheSameForEveryExportOfAModel) {
  for (const char* family : {"tv_swin", "cct", "deit_distill"}) {
    SCOPED_TRACE(family);
    std::vector<json> runs;
    for (const char* v : {"op13_b2", "op17_dyn", "op17_b3"}) {
      const std::string name = std::string(family) + "_" + v;
      const auto r = qvit::test::run_qvit("calibrate " + (kRoot / "models/zoo" / (name + ".onnx")).string() +
                                          " --preset fmnist --recipe w4a4-lrp --samples 6 -q -o " + (dir_ / (name + ".json")).string());
      ASSERT_EQ(r.exit_code, 0) << r.err;
      runs.push_back(json::parse(slurp(dir_ / (name + ".json")))["importance"]);
    }
    for (size_t k = 1; k < runs.size(); ++k) {
      ASSERT_EQ(runs[k].size(), runs[0].size());
      for (size_t i = 0; i < runs[0].size(); ++i) {
        EXPECT_EQ(runs[k][i]["kind"], runs[0][i]["kind"]);
        EXPECT_EQ(runs[k][i]["block"], runs[0][i]["block"]);
        const double a = runs[0][i]["relative"], b = runs[k][i]["relative"];
        EXPECT_NEAR(a, b, 1e-4 * std::max(a, 1e-3)) << runs[0][i]["layer"];
      }
    }
  }
}

// Attention pooling (CCT's softmax over tokens, then softmax(·)ᵀ·x): the transposed softmax output
// is data movement of the log-√2 grid and must stay on it. It once got a second, uniform grid of
// its own, which the integer model applied to log codes: fake-quant 90.0% against integer 49.3%.
TEST_F(MixedPrecision, LogSqrt2AttentionPoolingStaysOnItsGrid) {
  const std::string c = calibrate("models/zoo/cct_op13_b2.onnx", "w4a4-crl", "cct.calib.json");
  const json j = json::parse(slurp(c));
  for (const auto& a : j["activations"]) EXPECT_NE(a["value"], "/Transpose_output_0") << "a second grid on the moved softmax output";
  const fs::path ej = dir_ / "cct.int.json";
  const auto r = qvit::test::run_qvit("eval " + (kRoot / "models/zoo/cct_op13_b2.onnx").string() + " --preset fmnist --calib " + c +
                                      " --int --compare --limit 300 -q --json " + ej.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(json::parse(slurp(ej))["agreement_fake_quant"].get<double>(), 90.0);
}

TEST_F(MixedPrecision, BadAllocationIsOneClearError) {
  const fs::path recipe = dir_ / "bad.json";
  std::ofstream(recipe) << R"({"format": "qvit.recipe/1", "name": "bad", "weights": {"bits": 4}, "activations": {"bits": 4},
    "allocation": {"scorer": "lrp", "widths": [5, 6], "weight_budget": 4}})";
  auto r = qvit::test::run_qvit("calibrate " + (kRoot / "models/deit_fmnist.onnx").string() + " --preset fmnist --recipe " +
                                recipe.string() + " -o " + (dir_ / "x.json").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("allocation"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("outside the allowed widths"), std::string::npos) << r.err;
  std::ofstream(recipe) << R"({"format": "qvit.recipe/1", "name": "bad", "weights": {"bits": 4}, "activations": {"bits": 4},
    "allocation": {"scorer": "magic"}})";
  r = qvit::test::run_qvit("calibrate " + (kRoot / "models/deit_fmnist.onnx").string() + " --preset fmnist --recipe " +
                           recipe.string() + " -o " + (dir_ / "x.json").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("allocation.scorer"), std::string::npos) << r.err;
}

}  // namespace
