// The whole chain on every model of the architecture zoo (models/zoo/, tools/zoo/): nine ViT
// families trained on Fashion-MNIST, each exported at opsets 13 and 17 with a dynamic batch and
// with a fixed batch of 2 or 3. Through the CLI, as a user runs it:
//   inspect → calibrate (w8a8) → eval → eval --int → export → eval of the exported file,
// on the first 500 test images. The full 10k figures are scripts/zoo_table.sh's (README).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cli_runner.h"

namespace fs = std::filesystem;

namespace {

const fs::path kZoo = fs::path(QVIT_SOURCE_DIR) / "models" / "zoo";
constexpr const char* kFmnist = "/usr/share/datasets/fashion-mnist";

std::vector<std::string> zoo_models() {
  std::vector<std::string> names;
  if (fs::is_directory(kZoo))
    for (const auto& e : fs::directory_iterator(kZoo))
      if (e.path().extension() == ".onnx") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  if (names.empty()) names.push_back("none");
  return names;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

class ZooChain : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooChain, InspectCalibrateEvalIntExportEval) {
  if (GetParam() == "none") GTEST_SKIP() << kZoo << " has no models";
  if (!fs::exists(fs::path(kFmnist) / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  using qvit::test::run_qvit;
  qvit::test::TempDir t;
  const std::string model = (kZoo / (GetParam() + ".onnx")).string();
  const std::string d = t.path().string() + "/";
  const std::string common = " --preset fmnist -q --limit 500";

  auto ok = [&](const std::string& args) {
    const auto r = run_qvit(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
    EXPECT_EQ(r.err.find("warning:"), std::string::npos) << args << "\n" << r.err;
    return r.exit_code == 0;
  };
  ASSERT_TRUE(ok("inspect " + model));
  ASSERT_TRUE(ok("calibrate " + model + " --preset fmnist -q --recipe w8a8 -o " + d + "c.json"));
  ASSERT_TRUE(ok("eval " + model + common + " --json " + d + "float.json"));
  ASSERT_TRUE(ok("eval " + model + common + " --calib " + d + "c.json --int --compare --json " + d + "int.json"));
  ASSERT_TRUE(ok("export " + model + " --calib " + d + "c.json -o " + d + "m.int.onnx"));
  ASSERT_TRUE(ok("eval " + d + "m.int.onnx" + common + " --json " + d + "exported.json"));

  const auto fl = read_json(d + "float.json"), in = read_json(d + "int.json"), ex = read_json(d + "exported.json");
  EXPECT_EQ(fl["samples"], 500);
  EXPECT_NEAR(in["float_top1"].get<double>(), fl["top1"].get<double>(), 1e-9) << "float run inside eval --int differs";
  EXPECT_GE(in["agreement_fake_quant"].get<double>(), 98.0);
  EXPECT_NEAR(in["top1"].get<double>(), fl["top1"].get<double>(), 2.0);
  for (const auto& k : in["truncation_per_kernel"]) EXPECT_EQ(k["truncations"], 0) << k.dump();
  // The exported file is the same integer model: the same predictions.
  EXPECT_EQ(ex["correct_top1"], in["correct_top1"]);
  EXPECT_EQ(ex["correct_top5"], in["correct_top5"]);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooChain, ::testing::ValuesIn(zoo_models()),
                         [](const auto& info) { return info.param; });

}  // namespace
