// What a user can trust of the command line (issue 8, items 3 and 7): one grouped message for
// unsupported ops in every command, recipes and presets by name, a clear message when no config
// names a model, usage errors as one error line with exit code 2, --version, nonsense refused
// before any work, and output paths checked before the long work.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "util/npy.h"

namespace fs = std::filesystem;

namespace {

using qvit::test::expect_one_clear_error;
using qvit::test::kMalformed;
using qvit::test::run_qvit;
using qvit::test::TempDir;

const fs::path kDeit = fs::path(QVIT_SOURCE_DIR) / "models" / "deit_fmnist.onnx";

TEST(CliBehaviour, UnsupportedOpsOneGroupedMessageInEveryCommand) {
  const std::string m = (kMalformed / "unsupported_op.onnx").string();
  const std::string grouped = "op type(s) qvit cannot run: NonMaxSuppression ×1 (";
  expect_one_clear_error("inspect " + m, grouped);
  TempDir t;
  if (!fs::is_directory("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  expect_one_clear_error("eval " + m + " --preset fmnist -q --limit 4", grouped);
  expect_one_clear_error("calibrate " + m + " --preset fmnist -q --recipe w8a8 -o " + (t.path() / "c.json").string(), grouped);
  EXPECT_FALSE(fs::exists(t.path() / "c.json"));
}

TEST(CliBehaviour, RecipesAndPresetsByName) {
  TempDir t;
  expect_one_clear_error("calibrate " + kDeit.string() + " --recipe w9a9 -o " + (t.path() / "c.json").string(),
                         "no bundled recipe of that name (bundled: w4a4");
  expect_one_clear_error("eval " + kDeit.string() + " --preset imagenett", "no bundled config of that name (bundled: ");
  expect_one_clear_error("eval " + kDeit.string() + " --preset fmnist --config x.json", "exclusive");
}

TEST(CliBehaviour, NoConfigNamesTheModel) {
  TempDir t;
  const fs::path copy = t.path() / "my_vit.onnx";
  fs::copy_file(kMalformed / "valid.onnx", copy);
  // Never silently picked by a file-name prefix: the message says what to pass or write.
  expect_one_clear_error("eval " + copy.string(), "no preprocessing config names 'my_vit.onnx'; pass --preset NAME");
}

TEST(CliBehaviour, UsageErrorsAreOneLineWithExitCode2) {
  for (const std::string args : {"eval", "eval m.onnx --bogus", "eval m.onnx --limit 0", "eval m.onnx --limit -3",
                                 "calibrate m.onnx --recipe w8a8 -o c.json --samples 0", "frobnicate"}) {
    const auto r = run_qvit(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\n" << r.err;
  }
  const std::string version_file = (fs::temp_directory_path() / ("qvit_version_" + std::to_string(::getpid()))).string();
  EXPECT_EQ(std::system((std::string(QVIT_BINARY) + " --version > " + version_file).c_str()), 0);
  std::ifstream vf(version_file);
  std::string version;
  std::getline(vf, version);
  fs::remove(version_file);
  EXPECT_EQ(version.rfind("qvit ", 0), 0u) << version;
}

TEST(CliBehaviour, NonsenseRefusedBeforeWork) {
  expect_one_clear_error("eval " + kDeit.string() + " --nonlinear shift", "needs --int");
  expect_one_clear_error("eval " + kDeit.string() + " --int", "--int needs --calib");
  expect_one_clear_error("eval " + kDeit.string() + " --compare", "it needs --int");
  expect_one_clear_error("calibrate " + kDeit.string() + " --recipe w8a8 -o /nonexistent/dir/c.json", "/nonexistent/dir");
  expect_one_clear_error("eval " + kDeit.string() + " --json /nonexistent/dir/r.json", "/nonexistent/dir");
  if (!fs::is_directory(fs::path(QVIT_SOURCE_DIR) / "calib" / "fmnist")) GTEST_SKIP() << "calib/fmnist not present";
  TempDir t;
  expect_one_clear_error("calibrate " + kDeit.string() + " --recipe w8a8 -q --batch 5 -o " + (t.path() / "c.json").string(),
                         "does not divide --samples 32");
}

TEST(CliBehaviour, CalibrateSaysWhenNoIntegerFormExists) {
  if (!fs::is_directory(fs::path(QVIT_SOURCE_DIR) / "calib" / "fmnist")) GTEST_SKIP() << "calib/fmnist not present";
  TempDir t;
  const std::string m = (kMalformed / "sigmoid_mlp.onnx").string();
  const auto r = run_qvit("calibrate " + m + " --preset fmnist -q --recipe w8a8 -o " + (t.path() / "c.json").string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: integer-only export is impossible for this model"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("node 'act/Sigmoid' (Sigmoid)"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(t.path() / "c.json")) << "the calibration still serves fake-quant and QDQ";
  expect_one_clear_error("calibrate " + m + " --preset fmnist -q --strict --recipe w8a8 -o " + (t.path() / "s.json").string(),
                         "integer-only export is impossible for this model");
  EXPECT_FALSE(fs::exists(t.path() / "s.json"));
}

// Exported files run in `run` and `eval` like the float model: the integer-only .int.onnx (float
// input quantized at its boundary, logits scaled back) and the QDQ file (QuantizeLinear /
// DequantizeLinear in the float engine, at any batch: the QDQ file's is dynamic).
TEST(CliBehaviour, RunAndEvalTakeExportedIntAndQdqModels) {
  if (!fs::is_directory("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir t;
  const std::string d = t.path().string() + "/";
  ASSERT_EQ(run_qvit("calibrate " + kDeit.string() + " -q --recipe w8a8 -o " + d + "c.json").exit_code, 0);
  ASSERT_EQ(run_qvit("export " + kDeit.string() + " --calib " + d + "c.json -o " + d + "deit_fmnist.int.onnx").exit_code, 0);
  // QDQ without --batch keeps the model's dynamic batch (shape arithmetic computed from N).
  const auto qdq = run_qvit("export " + kDeit.string() + " --calib " + d + "c.json --format qdq -o " + d + "deit_fmnist.qdq.onnx");
  ASSERT_EQ(qdq.exit_code, 0) << qdq.err;
  EXPECT_NE(qdq.err.find("batch dynamic"), std::string::npos) << qdq.err;
  const std::string summary = d + "inspect.json";
  ASSERT_EQ(std::system((std::string(QVIT_BINARY) + " inspect " + d + "deit_fmnist.qdq.onnx --json > " + summary).c_str()), 0);
  std::ifstream sf(summary);
  const auto sj = nlohmann::json::parse(sf);
  EXPECT_EQ(sj["inputs"][0]["name"], "input");  // the model's own names
  EXPECT_EQ(sj["outputs"][0]["name"], "logits");
  qvit::write_npy(d + "x.npy", qvit::Tensor(qvit::DType::Float32, {5, 1, 28, 28}));
  for (const char* m : {"deit_fmnist.int.onnx", "deit_fmnist.qdq.onnx"}) {
    const auto r = run_qvit(std::string("run ") + d + m + " --input " + d + "x.npy --output " + d + "y.npy");
    ASSERT_EQ(r.exit_code, 0) << m << "\n" << r.err;
    EXPECT_EQ(qvit::read_npy(d + "y.npy").shape(), (qvit::Shape{5, 10})) << m;
    fs::remove(d + "y.npy");
  }
  const auto q = run_qvit("eval " + d + "deit_fmnist.qdq.onnx -q --limit 64");
  EXPECT_EQ(q.exit_code, 0) << q.err;
  EXPECT_NE(q.err.find("on 64 images"), std::string::npos) << q.err;
}

TEST(CliBehaviour, WarnsAboutRecipePatternsThatMatchNoNode) {
  if (!fs::is_directory(fs::path(QVIT_SOURCE_DIR) / "calib" / "fmnist")) GTEST_SKIP() << "calib/fmnist not present";
  TempDir t;
  const fs::path recipe = t.write("r.json", R"({"format": "qvit.recipe/1", "name": "typo",
    "weights": {"bits": 8}, "activations": {"bits": 8},
    "layers": [{"pattern": "*blocks.0/*", "weight_bits": 6}, {"pattern": "*blokcs.1/*", "weight_bits": 6}]})");
  const auto r = run_qvit("calibrate " + kDeit.string() + " -q --recipe " + recipe.string() + " -o " + (t.path() / "c.json").string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: recipe typo: 1 layer pattern(s) match no node of"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'*blokcs.1/*'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("'*blocks.0/*'"), std::string::npos) << r.err;
}

TEST(CliBehaviour, WarnsWhenTheHeadIsWiderThanTheConfigsClasses) {
  if (!fs::is_directory("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto r = run_qvit("eval " + (kMalformed / "wide_head.onnx").string() + " --preset fmnist -q --limit 8");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: the model outputs 128 logits per image but the config declares 10 classes"), std::string::npos)
      << r.err;
}

// Calibration data as ModelOpt / ORT users bring it: a flat folder of images, or a .npy of inputs
// already preprocessed. Neither has labels, so eval refuses them.
TEST(CliBehaviour, CalibratesFromAFlatFolderOrANpyOfInputs) {
  const fs::path images = fs::path(QVIT_SOURCE_DIR) / "calib" / "fmnist" / "00_tshirt_top";
  if (!fs::is_directory(images)) GTEST_SKIP() << "calib/fmnist not present";
  TempDir t;
  const fs::path flat = t.path() / "flat";
  fs::create_directories(flat);
  int copied = 0;
  for (const auto& e : fs::directory_iterator(images))
    if (copied < 8) fs::copy_file(e.path(), flat / e.path().filename()), ++copied;
  const auto a = run_qvit("calibrate " + kDeit.string() + " -q --recipe w8a8 --samples 8 --data " + flat.string() + " -o " +
                          (t.path() / "a.json").string());
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.err.find("unlabelled image folder"), std::string::npos) << a.err;
  qvit::write_npy((t.path() / "x.npy").string(), qvit::Tensor(qvit::DType::Float32, {8, 1, 28, 28}));
  const auto b = run_qvit("calibrate " + kDeit.string() + " -q --recipe w8a8 --samples 8 --data " + (t.path() / "x.npy").string() +
                          " -o " + (t.path() / "b.json").string());
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.err.find("preprocessed inputs"), std::string::npos) << b.err;
  expect_one_clear_error("eval " + kDeit.string() + " --data " + flat.string(), "calibrate also takes a flat folder");
  expect_one_clear_error("eval " + kDeit.string() + " --data " + (t.path() / "x.npy").string(), "has no labels");
}

// Truncations are warnings naming the kernel (--strict: an error), and the counts cover real
// images only: 5 images in chunks of 4 (3 zero-padded rows) count exactly 5/4 of 4 images.
TEST(CliBehaviour, TruncationsAreWarningsAndExcludePaddedRows) {
  if (!fs::is_directory("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir t;
  const std::string d = t.path().string() + "/";
  ASSERT_EQ(run_qvit("calibrate " + kDeit.string() + " -q --recipe w8a8 -o " + d + "c.json").exit_code, 0);
  const std::string shift = "eval " + kDeit.string() + " -q --calib " + d + "c.json --int --nonlinear shift --batch 4";
  const auto four = run_qvit(shift + " --limit 4 --json " + d + "four.json");
  ASSERT_EQ(four.exit_code, 0) << four.err;
  EXPECT_NE(four.err.find("warning: int32 truncations in QShiftmax"), std::string::npos) << four.err;
  const auto five = run_qvit(shift + " --limit 5 --json " + d + "five.json");
  ASSERT_EQ(five.exit_code, 0) << five.err;
  std::ifstream f4(d + "four.json"), f5(d + "five.json");
  const auto j4 = nlohmann::json::parse(f4), j5 = nlohmann::json::parse(f5);
  ASSERT_EQ(j4["truncation_per_kernel"].size(), j5["truncation_per_kernel"].size());
  for (size_t k = 0; k < j4["truncation_per_kernel"].size(); ++k) {
    const auto e4 = j4["truncation_per_kernel"][k]["elements"].get<uint64_t>();
    EXPECT_EQ(j5["truncation_per_kernel"][k]["elements"].get<uint64_t>() * 4, e4 * 5) << j5["truncation_per_kernel"][k].dump();
  }
  // eval --int runs the integer model alone; --compare adds the fake-quant and float runs, and
  // changes nothing of the integer model's own results.
  EXPECT_EQ(j5["compared"], false);
  EXPECT_FALSE(j5.contains("agreement_fake_quant"));
  const auto compared = run_qvit(shift + " --limit 5 --compare --json " + d + "compared.json");
  ASSERT_EQ(compared.exit_code, 0) << compared.err;
  std::ifstream fc(d + "compared.json");
  const auto jc = nlohmann::json::parse(fc);
  EXPECT_EQ(jc["compared"], true);
  EXPECT_GE(jc["agreement_fake_quant"].get<double>(), 0.0);
  EXPECT_EQ(jc["top1"], j5["top1"]);
  EXPECT_EQ(jc["truncation_per_layer"], j5["truncation_per_layer"]);
  expect_one_clear_error(shift + " --limit 4 --strict", "--strict:");
  // I-BERT's softmax overflows int32 here (MLSys'23): the failed range proofs are warnings too.
  const auto poly = run_qvit("eval " + kDeit.string() + " -q --calib " + d + "c.json --int --nonlinear poly --limit 4");
  EXPECT_EQ(poly.exit_code, 0) << poly.err;
  EXPECT_NE(poly.err.find("warning: int32 range proof failed: "), std::string::npos) << poly.err;
}

// images/s to 3 significant digits, in the log line and the JSON.
TEST(CliBehaviour, ImagesPerSecondHasThreeSignificantDigits) {
  if (!fs::is_directory("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir t;
  const auto r = run_qvit("eval " + kDeit.string() + " -q --limit 64 --json " + (t.path() / "r.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream f(t.path() / "r.json");
  const double ips = nlohmann::json::parse(f)["images_per_second"].get<double>();
  ASSERT_GT(ips, 0);
  const double unit = std::pow(10.0, std::floor(std::log10(ips)) - 2);
  EXPECT_NEAR(ips / unit, std::round(ips / unit), 1e-6) << ips;
  const size_t at = r.err.find(" images/s)");
  ASSERT_NE(at, std::string::npos) << r.err;
  const std::string shown = r.err.substr(r.err.rfind('(', at) + 1, at - r.err.rfind('(', at) - 1);
  EXPECT_NEAR(std::stod(shown), ips, 1e-9 + ips * 1e-9) << shown;
}

// --batch only changes how many images run per pass, not what is observed.
TEST(CliBehaviour, CalibrateBatchGivesTheSameCalibration) {
  if (!fs::is_directory(fs::path(QVIT_SOURCE_DIR) / "calib" / "fmnist")) GTEST_SKIP() << "calib/fmnist not present";
  TempDir t;
  const std::string base = "calibrate " + kDeit.string() + " -q --recipe w8a8 -o ";
  ASSERT_EQ(run_qvit(base + (t.path() / "a.json").string()).exit_code, 0);
  ASSERT_EQ(run_qvit(base + (t.path() / "b.json").string() + " --batch 8").exit_code, 0);
  std::ifstream fa(t.path() / "a.json"), fb(t.path() / "b.json");
  const auto a = nlohmann::json::parse(fa), b = nlohmann::json::parse(fb);
  EXPECT_EQ(a["activations"], b["activations"]);
  EXPECT_EQ(a["weights"], b["weights"]);
}

TEST(CliBehaviour, CalibrateSkipBadTakesTheNextImages) {
  const fs::path images = fs::path(QVIT_SOURCE_DIR) / "calib" / "fmnist" / "00_tshirt_top";
  if (!fs::is_directory(images)) GTEST_SKIP() << "calib/fmnist not present";
  TempDir t;
  fs::create_directories(t.path() / "flat");
  int copied = 0;
  for (const auto& e : fs::directory_iterator(images))
    if (copied < 9) fs::copy_file(e.path(), t.path() / "flat" / e.path().filename()), ++copied;
  t.write("flat/000_broken.png", "\x89PNG\r\n\x1a\n not a png");
  const std::string base = "calibrate " + kDeit.string() + " -q --recipe w8a8 --samples 8 --data " + (t.path() / "flat").string();
  expect_one_clear_error(base + " -o " + (t.path() / "a.json").string(), "000_broken.png");
  const auto r = run_qvit(base + " --skip-bad -o " + (t.path() / "b.json").string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: skipped: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("000_broken.png"), std::string::npos) << r.err;
}

}  // namespace
