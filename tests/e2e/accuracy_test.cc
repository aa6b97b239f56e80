// Float accuracy on real data, end to end (ONNX import → IDX data → preprocessing → executor):
//  - the bundled models on the full 10k Fashion-MNIST test split reproduce the top-1 PyTorch
//    measured at training time (models/*.metrics.json) within 0.05 pt;
//  - the third-party ViT4MNIST (../shared/data, absent on a user's clone: skipped) gives its
//    published 97.91% ± 0.05 at both opsets.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/batch_loader.h"
#include "data/dataset.h"
#include "eval/classification.h"
#include "eval/config_lookup.h"
#include "runtime/float_model.h"

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = QVIT_SOURCE_DIR;

qvit::ClassificationResult evaluate(const fs::path& model, const fs::path& config, const fs::path& data) {
  const qvit::LocatedConfig cfg = qvit::load_config_file(config);
  auto dataset = qvit::data::open_dataset(data, cfg.config);
  qvit::FloatModel m(model.string(), 100);
  qvit::data::BatchLoaderOptions opt;
  opt.batch_size = 100;
  qvit::data::BatchLoader loader(*dataset, opt);
  return qvit::evaluate_classifier([&](const qvit::Tensor& x) { return m.run(x); }, loader, false);
}

class BundledAccuracy : public ::testing::TestWithParam<std::string> {};

TEST_P(BundledAccuracy, MatchesPyTorchOnFullTestSet) {
  const std::string name = GetParam();
  const fs::path model = kRoot / "models" / (name + ".onnx");
  const fs::path metrics = kRoot / "models" / (name + ".metrics.json");
  ASSERT_TRUE(fs::exists(model)) << model << " is missing";
  const fs::path data = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(data / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  std::ifstream f(metrics);
  ASSERT_TRUE(f) << metrics;
  const nlohmann::json want = nlohmann::json::parse(f);
  const qvit::ClassificationResult r = evaluate(model, kRoot / "configs" / (name + ".json"), data);
  std::printf("[ accuracy ] %s: qvit top-1 %.2f%% (%lld correct), PyTorch %.2f%%\n", name.c_str(), r.top1(),
              static_cast<long long>(r.correct_top1), want["top1"].get<double>());
  EXPECT_EQ(r.samples, 10000);
  EXPECT_NEAR(r.top1(), want["top1"].get<double>(), 0.05);
}

INSTANTIATE_TEST_SUITE_P(Models, BundledAccuracy, ::testing::Values("deit_fmnist", "swin_fmnist"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

class ThirdPartyAccuracy : public ::testing::TestWithParam<std::string> {};

TEST_P(ThirdPartyAccuracy, Vit4MnistReproducesPublishedTop1) {
  const fs::path shared = kRoot.parent_path() / "shared" / "data";
  const fs::path model = shared / "models" / ("vit4mnist_" + GetParam() + ".onnx");
  if (!fs::exists(model) || !fs::exists(shared / "mnist"))
    GTEST_SKIP() << "third-party test material not present at " << shared;
  const qvit::ClassificationResult r = evaluate(model, kRoot / "configs" / "vit4mnist.json", shared / "mnist");
  std::printf("[ accuracy ] vit4mnist_%s: top-1 %.2f%%\n", GetParam().c_str(), r.top1());
  EXPECT_EQ(r.samples, 10000);
  EXPECT_NEAR(r.top1(), 97.91, 0.05);
}

INSTANTIATE_TEST_SUITE_P(Opsets, ThirdPartyAccuracy, ::testing::Values("op13", "op17"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
