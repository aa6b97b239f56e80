// Every kernel path gives the reference's integer logits, bit for bit, and the same truncation
// counts per node: on the bundled models and on every family of the architecture zoo, with 8- and
// 4-bit weights and each nonlinear family, on real images and on extreme ones (every pixel at the
// input grid's ends). The path is process-wide; the integer model is built under each path, so
// the int8 weights are packed for it.
#include <gtest/gtest.h>

#include <filesystem>
#include <algorithm>

#include "calib/calibrator.h"
#include "calib/recipe.h"
#include "data/batch_loader.h"
#include "data/dataset.h"
#include "eval/config_lookup.h"
#include "kernels/kernel_path.h"
#include "runtime/int_model.h"

namespace fs = std::filesystem;

namespace {

using qvit::kernels::KernelPath;

const fs::path kRoot = QVIT_SOURCE_DIR;

struct Case {
  std::string model;   // models/<model>.onnx
  std::string config;  // configs/<config>.json
  std::string recipe;
  qvit::NonlinearFamily family;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string s = fs::path(info.param.model).filename().string() + "_" + info.param.recipe + "_" +
                  qvit::nonlinear_family_name(info.param.family);
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

// Eight calibration images, then an image of all +3 and one of all −3 (past both ends of the
// input grid: the boundary saturates them to the extreme codes).
qvit::Tensor test_images(const qvit::data::Dataset& images) {
  qvit::data::BatchLoaderOptions lopt;
  lopt.batch_size = 8;
  qvit::data::BatchLoader loader(images, lopt);
  qvit::data::Batch b;
  EXPECT_TRUE(loader.next(b));
  qvit::Shape s = b.images.shape();
  const int64_t per = b.images.numel() / s[0];
  s[0] += 2;
  qvit::Tensor x(qvit::DType::Float32, s);
  std::copy(b.images.data<float>(), b.images.data<float>() + b.images.numel(), x.data<float>());
  float* extremes = x.data<float>() + b.images.numel();
  std::fill(extremes, extremes + per, 3.0f);
  std::fill(extremes + per, extremes + 2 * per, -3.0f);
  return x;
}

class KernelPaths : public ::testing::TestWithParam<Case> {};

TEST_P(KernelPaths, EveryPathGivesTheReferenceLogitsAndTruncations) {
  const Case& c = GetParam();
  const fs::path model = kRoot / "models" / c.model;
  if (!fs::exists(model)) GTEST_SKIP() << model << " missing";
  const qvit::LocatedConfig cfg = qvit::load_config_file(kRoot / "configs" / (c.config + ".json"));
  auto calib_set = qvit::data::open_dataset(kRoot / "calib" / "fmnist", cfg.config);
  qvit::CalibrateOptions copt;
  copt.progress = false;
  const qvit::CalibrationResult calib = qvit::calibrate(
      model.string(), *calib_set, qvit::load_recipe((kRoot / "configs" / "recipes" / (c.recipe + ".json")).string()), copt);
  const qvit::Tensor x = test_images(*calib_set);
  qvit::LoweringOptions lopt;
  lopt.family = c.family;

  auto run = [&](KernelPath p, qvit::IntRunStats& stats) {
    qvit::kernels::ScopedKernelPath scoped(p);
    qvit::IntModel m(model.string(), calib, 4, lopt);  // batch 4: chunks, and a zero-padded last one
    return m.run_integer(x, &stats);
  };
  qvit::IntRunStats ref_stats;
  const qvit::Tensor ref = run(KernelPath::Ref, ref_stats);
  for (KernelPath p : qvit::kernels::supported_kernel_paths()) {
    if (p == KernelPath::Ref) continue;
    SCOPED_TRACE(qvit::kernels::kernel_path_name(p));
    qvit::IntRunStats stats;
    const qvit::Tensor y = run(p, stats);
    ASSERT_EQ(y.shape(), ref.shape());
    int64_t differing = 0;
    for (int64_t i = 0; i < y.numel(); ++i) differing += y.data<int32_t>()[i] != ref.data<int32_t>()[i];
    EXPECT_EQ(differing, 0) << "of " << y.numel() << " integer logits";
    ASSERT_EQ(stats.per_node.size(), ref_stats.per_node.size());
    for (const auto& [node, s] : ref_stats.per_node) {
      const auto it = stats.per_node.find(node);
      ASSERT_NE(it, stats.per_node.end()) << node;
      EXPECT_EQ(it->second.events, s.events) << node;
      EXPECT_EQ(it->second.elements, s.elements) << node;
    }
  }
}

std::vector<Case> cases() {
  using F = qvit::NonlinearFamily;
  std::vector<Case> v = {
      {"deit_fmnist.onnx", "deit_fmnist", "w8a8", F::Int32Safe}, {"deit_fmnist.onnx", "deit_fmnist", "w4a4", F::Shift},
      {"deit_fmnist.onnx", "deit_fmnist", "w8a8", F::Poly},      {"swin_fmnist.onnx", "swin_fmnist", "w8a8", F::Int32Safe},
      {"swin_fmnist.onnx", "swin_fmnist", "w4a4-crl", F::Poly},  {"swin_fmnist.onnx", "swin_fmnist", "w6a6", F::Shift},
  };
  // Every zoo export (each family at opsets 13 and 17, dynamic and fixed batch), recipes and
  // nonlinear families rotating over them.
  const fs::path zoo = kRoot / "models" / "zoo";
  if (!fs::is_directory(zoo)) return v;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(zoo))
    if (e.path().extension() == ".onnx") files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  const char* recipes[] = {"w8a8", "w4a4", "w6a6"};
  const F families[] = {F::Int32Safe, F::Shift, F::Poly, F::Int32Safe};
  for (size_t i = 0; i < files.size(); ++i) v.push_back({"zoo/" + files[i], "fmnist", recipes[i % 3], families[i % 4]});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Models, KernelPaths, ::testing::ValuesIn(cases()), case_name);

}  // namespace
