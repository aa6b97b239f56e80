// `qvit export` end to end: the integer-only ONNX model reloads into exactly the model the lowering
// built (bit-exact int32 logits on real images), passes the ONNX checker, runs under `qvit eval`,
// and damaged files are refused with one clear line; the QDQ export passes the checker.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "calib/calibration_result.h"
#include "data/batch_loader.h"
#include "data/dataset.h"
#include "eval/config_lookup.h"
#include "onnx/int_onnx_export.h"
#include "onnx/onnx_check.h"
#include "runtime/int_model.h"

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = QVIT_SOURCE_DIR;
constexpr int64_t kBatch = 4;

struct CliResult {
  int code;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The bundled model, its calibration for a recipe, and the integer export of both (made once per suite).
struct Case {
  std::string model, recipe;
  fs::path model_path() const { return kRoot / "models" / (model + ".onnx"); }
};

class IntExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("qvit_int_export_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static CliResult cli(const std::string& args) {
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    const int status = std::system((std::string(QVIT_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string()).c_str());
    return {WEXITSTATUS(status), slurp(out), slurp(err)};
  }

  // Calibrates (once) and returns the calibration file.
  static fs::path calibration(const Case& c) {
    const fs::path calib = dir_ / (c.model + "." + c.recipe + ".calib.json");
    if (!fs::exists(calib)) {
      const CliResult r = cli("calibrate " + c.model_path().string() + " --recipe " +
                              (kRoot / "configs" / "recipes" / (c.recipe + ".json")).string() + " -q -o " + calib.string());
      EXPECT_EQ(r.code, 0) << r.err;
    }
    return calib;
  }

  // Exports (once) and returns the exported file, named like `qvit export` users would.
  static fs::path exported(const Case& c, const std::string& format) {
    const fs::path out = dir_ / (c.model + "." + c.recipe + "." + format + ".onnx");
    if (!fs::exists(out)) {
      const CliResult r = cli("export " + c.model_path().string() + " --calib " + calibration(c).string() + " --format " + format +
                              " --batch " + std::to_string(kBatch) + " -o " + out.string());
      EXPECT_EQ(r.code, 0) << r.err;
    }
    return out;
  }

  // The first images of the bundled calibration folder (real Fashion-MNIST training images).
  static qvit::Tensor real_images(const Case& c, int64_t n) {
    const qvit::LocatedConfig cfg = qvit::find_config_for_model(c.model_path());
    auto ds = qvit::data::open_dataset(cfg.resolve(cfg.config.default_calib), cfg.config);
    qvit::data::BatchLoaderOptions opt;
    opt.batch_size = n;
    qvit::data::BatchLoader loader(*ds, opt);
    qvit::data::Batch b;
    EXPECT_TRUE(loader.next(b));
    return b.images;
  }

  static void expect_bit_exact_reload(const Case& c) {
    const fs::path path = exported(c, "int");
    const qvit::CalibrationResult calib = qvit::load_calibration_result(calibration(c).string());
    qvit::LoweringOptions opt;
    opt.family = qvit::nonlinear_family_from_name(calib.recipe.nonlinear);
    qvit::IntModel direct(c.model_path().string(), calib, kBatch, opt);
    qvit::IntModel reloaded(qvit::load_int_onnx(path.string()));
    ASSERT_EQ(reloaded.batch_size(), kBatch);
    EXPECT_EQ(reloaded.lowered().family, direct.lowered().family);
    EXPECT_EQ(reloaded.lowered().input, direct.lowered().input);
    ASSERT_EQ(reloaded.lowered().outputs.size(), 1u);
    EXPECT_EQ(reloaded.lowered().outputs[0].scales, direct.lowered().outputs[0].scales);
    EXPECT_EQ(reloaded.lowered().outputs[0].axis, direct.lowered().outputs[0].axis);
    EXPECT_EQ(reloaded.lowered().bounds.size(), direct.lowered().bounds.size());
    // Two batches: a full one and a short one (padded inside IntModel).
    const qvit::Tensor images = real_images(c, 2 * kBatch - 1);
    for (int64_t start : {int64_t{0}, kBatch}) {
      const int64_t n = std::min(kBatch, images.shape()[0] - start);
      qvit::Shape s = images.shape();
      s[0] = n;
      qvit::Tensor x(qvit::DType::Float32, s);
      std::copy_n(images.data<float>() + start * (images.numel() / images.shape()[0]), x.numel(), x.data<float>());
      const qvit::Tensor a = direct.run_integer(x), b = reloaded.run_integer(x);
      ASSERT_EQ(a.shape(), b.shape());
      ASSERT_EQ(a.dtype(), qvit::DType::Int32);
      int64_t differing = 0, nonzero = 0;
      for (int64_t i = 0; i < a.numel(); ++i) {
        differing += a.data<int32_t>()[i] != b.data<int32_t>()[i];
        nonzero += a.data<int32_t>()[i] != 0;
      }
      EXPECT_EQ(differing, 0) << c.model << " " << c.recipe << ": int32 logits differ after export/reload";
      EXPECT_GT(nonzero, 0) << "degenerate logits would make the comparison vacuous";
    }
  }

  static inline fs::path dir_;
};

const Case kDeitW8A8{"deit_fmnist", "w8a8"};
const Case kSwinW4A4Crl{"swin_fmnist", "w4a4-crl"};  // log-sqrt2 softmax, 4-bit weights (packed int4)

TEST_F(IntExport, DeitW8A8ReloadsBitExact) { expect_bit_exact_reload(kDeitW8A8); }

TEST_F(IntExport, SwinW4A4CrlReloadsBitExact) { expect_bit_exact_reload(kSwinW4A4Crl); }

TEST_F(IntExport, ExportsPassTheOnnxChecker) {
  for (const Case& c : {kDeitW8A8, kSwinW4A4Crl}) {
    EXPECT_NO_THROW(qvit::check_onnx_file(exported(c, "int").string(), true)) << c.model;
    EXPECT_NO_THROW(qvit::check_onnx_file(exported(c, "qdq").string(), true)) << c.model;
  }
  // The checker is really consulted: a truncated file is refused.
  const fs::path bad = dir_ / "checker_truncated.onnx";
  qvit::testing::damage_int_onnx(exported(kDeitW8A8, "int").string(), bad.string(), qvit::testing::IntOnnxDamage::Truncate);
  EXPECT_THROW(qvit::check_onnx_file(bad.string()), qvit::Error);
}

TEST_F(IntExport, FourBitWeightsArePackedTwoPerByte) {
  // 4-bit weights take half the bytes of the 8-bit ones for the same model.
  const fs::path w4 = exported(kSwinW4A4Crl, "int");
  const fs::path w8 = exported({"swin_fmnist", "w8a8"}, "int");
  EXPECT_LT(fs::file_size(w4), fs::file_size(w8));
  EXPECT_TRUE(qvit::is_int_onnx(w4.string()));
  EXPECT_FALSE(qvit::is_int_onnx(kDeitW8A8.model_path().string()));
  EXPECT_FALSE(qvit::is_int_onnx(exported(kDeitW8A8, "qdq").string()));
}

TEST_F(IntExport, EvalRunsTheExportedModelLikeTheInMemoryOne) {
  const CliResult exported_run = cli("eval " + exported(kDeitW8A8, "int").string() + " --limit 200 --json -");
  ASSERT_EQ(exported_run.code, 0) << exported_run.err;
  const nlohmann::json j = nlohmann::json::parse(exported_run.out);
  EXPECT_EQ(j.at("mode"), "integer_onnx");
  EXPECT_EQ(j.at("samples"), 200);
  EXPECT_NE(j.at("config").get<std::string>().find("deit_fmnist.json"), std::string::npos);
  ASSERT_FALSE(j.at("truncation_per_kernel").empty());
  for (const auto& k : j.at("truncation_per_kernel")) EXPECT_GT(k.at("elements").get<uint64_t>(), 0u) << k.at("op");
  // Bit-exact reload ⇒ the same predictions as lowering in memory.
  const CliResult direct = cli("eval " + kDeitW8A8.model_path().string() + " --calib " + calibration(kDeitW8A8).string() +
                               " --int --limit 200 --json -");
  ASSERT_EQ(direct.code, 0) << direct.err;
  EXPECT_EQ(j.at("top1"), nlohmann::json::parse(direct.out).at("top1"));
}

// bench: a batch-1 export times --batch images per call (run side by side); an export for a larger
// batch times its own batch, with a warning when --batch asks for another.
TEST_F(IntExport, BenchTimesTheBatchTheModelTakes) {
  const fs::path one = dir_ / "deit.b1.int.onnx";
  const CliResult e = cli("export " + kDeitW8A8.model_path().string() + " --calib " + calibration(kDeitW8A8).string() +
                          " -o " + one.string());
  ASSERT_EQ(e.code, 0) << e.err;
  const CliResult r1 = cli("bench " + one.string() + " --batch 6 --seconds 0 --json -");
  ASSERT_EQ(r1.code, 0) << r1.err;
  const nlohmann::json j1 = nlohmann::json::parse(r1.out);
  EXPECT_EQ(j1.at("batch"), 6);
  EXPECT_EQ(j1.at("mode"), "integer_onnx");
  EXPECT_GT(j1.at("images_per_second").get<double>(), 0.0);
  EXPECT_EQ(r1.err.find("warning:"), std::string::npos) << r1.err;
  const CliResult rk = cli("bench " + exported(kDeitW8A8, "int").string() + " --batch " + std::to_string(kBatch + 1) +
                           " --seconds 0 --json -");
  ASSERT_EQ(rk.code, 0) << rk.err;
  EXPECT_EQ(nlohmann::json::parse(rk.out).at("batch"), kBatch);
  EXPECT_NE(rk.err.find("warning: "), std::string::npos) << rk.err;
}

TEST_F(IntExport, InspectSummarizesTheIntegerModel) {
  const CliResult r = cli("inspect " + exported(kDeitW8A8, "int").string() + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("integer_only"), true);
  EXPECT_GT(j.at("parameters").get<int64_t>(), 0);   // the integer weights
  EXPECT_GT(j.at("ops").at("QMatMul").get<int>(), 0);
  EXPECT_EQ(j.at("inputs").at(0).at("dtype"), "int32");
}

TEST_F(IntExport, DamagedExportsAreRefusedWithOneClearLine) {
  using qvit::testing::IntOnnxDamage;
  const struct {
    IntOnnxDamage damage;
    std::string name, expected;
  } cases[] = {
      {IntOnnxDamage::DropRequiredAttribute, "no_attr", "missing required attribute '"},
      {IntOnnxDamage::QvitDomainVersion, "domain_v2", "imports domain 'qvit' version 2"},
      {IntOnnxDamage::FormatVersion, "format_v99", "unsupported qvit.format 'qvit.int/99'"},
      {IntOnnxDamage::Truncate, "truncated", "truncated or corrupt"},
  };
  const fs::path good = exported(kDeitW8A8, "int");
  for (const auto& c : cases) {
    const fs::path bad = dir_ / ("deit_fmnist." + c.name + ".int.onnx");
    qvit::testing::damage_int_onnx(good.string(), bad.string(), c.damage);
    const CliResult r = cli("eval " + bad.string() + " --limit 8 -q");
    EXPECT_EQ(r.code, 1) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.name << ": " << r.err;
    // One error line (eval may log the dataset it opened before).
    const size_t at = r.err.find("error: ");
    EXPECT_EQ(r.err.find("error: ", at + 1), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n', at), r.err.size() - 1) << c.name << ": " << r.err;
    if (c.damage == IntOnnxDamage::DropRequiredAttribute) {
      EXPECT_NE(r.err.find("node '"), std::string::npos) << r.err;
    }
  }
  // A float model is not an integer one.
  try {
    qvit::load_int_onnx(kDeitW8A8.model_path().string());
    FAIL() << "a float model loaded as an integer model";
  } catch (const qvit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a qvit integer model"), std::string::npos) << e.what();
  }
}

TEST_F(IntExport, QdqExportStatesWhatItCannotExpress) {
  const fs::path out = dir_ / "swin_fmnist.w4a4-crl.notes.qdq.onnx";
  const CliResult r = cli("export " + kSwinW4A4Crl.model_path().string() + " --calib " + calibration(kSwinW4A4Crl).string() +
                          " --format qdq -o " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("log-sqrt2 softmax point(s) left in float"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("below 8 bits"), std::string::npos) << r.err;
  EXPECT_NO_THROW(qvit::check_onnx_file(out.string(), true));
}

}  // namespace
