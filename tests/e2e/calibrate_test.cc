// `qvit calibrate` end to end: deterministic output, clean refusal of too few images, and the
// fake-quant accuracy of the third-party ViT4MNIST (float 97.91%) at w8a8 (target ≥ 97.7%).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "calib/calibration_result.h"
#include "calib/calibrator.h"
#include "calib/recipe.h"
#include "data/batch_loader.h"
#include "data/dataset.h"
#include "eval/config_lookup.h"
#include "eval/fake_quant_eval.h"

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = QVIT_SOURCE_DIR;
const fs::path kShared = kRoot.parent_path() / "shared" / "data";

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int run(const std::string& args) { return WEXITSTATUS(std::system((std::string(QVIT_BINARY) + " " + args + " 2>/dev/null").c_str())); }

class Vit4Mnist : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = kShared / "models" / "vit4mnist_op13.onnx";
    if (!fs::exists(model_)) GTEST_SKIP() << "third-party test material not present at " << kShared;
    dir_ = fs::temp_directory_path() / ("qvit_calib_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string calibrate_args(const std::string& out, const std::string& extra = "") const {
    return "calibrate " + model_.string() + " --data " + (kShared / "mnist").string() + " --config " +
           (kRoot / "configs" / "vit4mnist.json").string() + " --recipe " + (kRoot / "configs" / "recipes" / "w8a8.json").string() +
           " -q -o " + out + " " + extra;
  }
  fs::path model_, dir_;
};

TEST_F(Vit4Mnist, CalibrationIsDeterministic) {
  ASSERT_EQ(run(calibrate_args((dir_ / "a.json").string())), 0);
  ASSERT_EQ(run(calibrate_args((dir_ / "b.json").string())), 0);
  EXPECT_EQ(slurp(dir_ / "a.json"), slurp(dir_ / "b.json"));
  const qvit::CalibrationResult r = qvit::load_calibration_result((dir_ / "a.json").string());
  EXPECT_EQ(r.samples, 32);
  EXPECT_EQ(r.weights.size(), 27u);
}

TEST_F(Vit4Mnist, TooFewImagesIsAClearErrorAndWritesNothing) {
  // A list file with 3 images, asked for 32.
  const fs::path list = dir_ / "few.txt";
  EXPECT_NE(run(calibrate_args((dir_ / "c.json").string(), "--samples 32")), 1);  // sanity: the normal call works
  std::ofstream(list) << "x.png 1\ny.png 2\nz.png 3\n";
  const std::string args = "calibrate " + model_.string() + " --data " + list.string() + " --config " +
                           (kRoot / "configs" / "vit4mnist.json").string() + " --recipe " +
                           (kRoot / "configs" / "recipes" / "w8a8.json").string() + " -q -o " + (dir_ / "d.json").string();
  EXPECT_EQ(run(args), 1);
  EXPECT_FALSE(fs::exists(dir_ / "d.json"));
}

TEST_F(Vit4Mnist, Accuracy_W8A8FakeQuantKeepsFloatAccuracy) {
  ASSERT_EQ(run(calibrate_args((dir_ / "w8a8.json").string())), 0);
  const qvit::CalibrationResult calib = qvit::load_calibration_result((dir_ / "w8a8.json").string());
  const qvit::LocatedConfig cfg = qvit::load_config_file(kRoot / "configs" / "vit4mnist.json");
  auto ds = qvit::data::open_dataset(kShared / "mnist", cfg.config);
  qvit::data::BatchLoaderOptions opt;
  opt.batch_size = 100;
  qvit::data::BatchLoader loader(*ds, opt);
  const qvit::FakeQuantEvaluation ev = qvit::evaluate_fake_quant(model_.string(), calib, loader, 100, false);
  std::printf("[ accuracy ] vit4mnist w8a8 fake-quant: top-1 %.2f%%, agreement %.2f%%\n", ev.quantized.top1(), ev.agreement);
  EXPECT_EQ(ev.quantized.samples, 10000);
  EXPECT_GE(ev.quantized.top1(), 97.7);
  // Gross-bug guard on the per-layer report: percentile clipping costs some tensors (GELU outputs
  // with long tails measure ~8 dB here, the median ~21 dB), but none may be destroyed.
  std::vector<double> sqnr;
  for (const auto& l : ev.layers) {
    EXPECT_GT(l.sqnr_db(), 5.0) << l.name;
    sqnr.push_back(l.sqnr_db());
  }
  std::sort(sqnr.begin(), sqnr.end());
  EXPECT_GT(sqnr[sqnr.size() / 2], 15.0);  // cumulative error vs float: deeper tensors carry upstream noise
}

}  // namespace

namespace {

// The bundled models calibrated on the bundled calibration images (Fashion-MNIST train split),
// evaluated on the 10k test split: w8a8 fake-quant within 0.5 pt of float (issue target).
class BundledQuant : public ::testing::TestWithParam<std::string> {};

TEST_P(BundledQuant, Accuracy_W8A8WithinHalfPointOfFloat) {
  const fs::path model = kRoot / "models" / (GetParam() + ".onnx");
  ASSERT_TRUE(fs::exists(model)) << model;
  const fs::path data = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(data / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const qvit::LocatedConfig cfg = qvit::load_config_file(kRoot / "configs" / (GetParam() + ".json"));
  auto calib_set = qvit::data::open_dataset(cfg.resolve(cfg.config.default_calib), cfg.config);
  qvit::CalibrateOptions copt;
  copt.progress = false;
  const qvit::CalibrationResult calib =
      qvit::calibrate(model.string(), *calib_set, qvit::load_recipe((kRoot / "configs" / "recipes" / "w8a8.json").string()), copt);
  auto test_set = qvit::data::open_dataset(data, cfg.config);
  qvit::data::BatchLoaderOptions opt;
  opt.batch_size = 100;
  qvit::data::BatchLoader loader(*test_set, opt);
  const qvit::FakeQuantEvaluation ev = qvit::evaluate_fake_quant(model.string(), calib, loader, 100, false);
  std::ifstream f(kRoot / "models" / (GetParam() + ".metrics.json"));
  const double float_top1 = nlohmann::json::parse(f)["top1"].get<double>();
  std::printf("[ accuracy ] %s w8a8 fake-quant: top-1 %.2f%% (float %.2f%%), agreement %.2f%%\n", GetParam().c_str(),
              ev.quantized.top1(), float_top1, ev.agreement);
  EXPECT_GE(ev.quantized.top1(), float_top1 - 0.5);
}

INSTANTIATE_TEST_SUITE_P(Models, BundledQuant, ::testing::Values("deit_fmnist", "swin_fmnist"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
