// Float parity with PyTorch: each case is an ONNX export plus an input and PyTorch's output
// (tools/make_parity_cases.py). qvit's imported, folded and fused graph must give
// max |Δlogit| ≤ 1e-3 · max |logit|.
//  - small cases are committed under tests/golden/parity/;
//  - ImageNet-size cases (DeiT-S at opsets 13 and 17, Swin-T; ~100 MB each) are generated into the
//    build folder on first use when /usr/bin/python3 has torch, or read from $QVIT_PARITY_BIG_DIR.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "ir/executor.h"
#include "onnx/onnx_import.h"

namespace fs = std::filesystem;

namespace {

struct ParityResult {
  double max_abs_diff = 0, max_abs_logit = 0;
};

ParityResult run_case(const fs::path& dir) {
  const qvit::Tensor input = qvit::load_tensor_pb((dir / "test_data_set_0" / "input_0.pb").string());
  const qvit::Tensor want = qvit::load_tensor_pb((dir / "test_data_set_0" / "output_0.pb").string());
  qvit::ImportOptions opt;
  opt.batch = input.shape()[0];
  const qvit::Graph g = qvit::import_onnx((dir / "model.onnx").string(), opt);
  qvit::Executor ex(g);
  const qvit::Tensor got = ex.run({input}).at(0);
  EXPECT_EQ(qvit::shape_str(got.shape()), qvit::shape_str(want.shape()));
  ParityResult r;
  for (int64_t i = 0; i < want.numel() && i < got.numel(); ++i) {
    r.max_abs_diff = std::max(r.max_abs_diff, std::fabs(double(got.data<float>()[i]) - want.data<float>()[i]));
    r.max_abs_logit = std::max(r.max_abs_logit, std::fabs(double(want.data<float>()[i])));
  }
  return r;
}

void expect_parity(const fs::path& dir) {
  const ParityResult r = run_case(dir);
  std::printf("[ parity   ] %s: max|Δ| = %.3g, max|logit| = %.3g, ratio %.3g\n", dir.filename().c_str(), r.max_abs_diff,
              r.max_abs_logit, r.max_abs_diff / std::max(r.max_abs_logit, 1e-30));
  EXPECT_GT(r.max_abs_logit, 0.0) << "degenerate case: all logits are zero";
  EXPECT_LE(r.max_abs_diff, 1e-3 * r.max_abs_logit);
}

std::vector<std::string> small_cases() {
  std::vector<std::string> out;
  const fs::path root = fs::path(QVIT_TEST_DIR) / "golden" / "parity";
  if (fs::is_directory(root))
    for (const auto& e : fs::directory_iterator(root))
      if (fs::exists(e.path() / "model.onnx")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class SmallParity : public ::testing::TestWithParam<std::string> {};

TEST_P(SmallParity, MatchesPyTorch) { expect_parity(fs::path(QVIT_TEST_DIR) / "golden" / "parity" / GetParam()); }

INSTANTIATE_TEST_SUITE_P(Committed, SmallParity, ::testing::ValuesIn(small_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SmallParity);

// Where the big cases are, generating them if needed; empty (with a reason) if impossible.
fs::path big_cases_dir(std::string* why) {
  if (const char* env = std::getenv("QVIT_PARITY_BIG_DIR")) return env;
  const fs::path dir = fs::current_path() / "parity_big";
  if (fs::exists(dir / "swin_t_op17" / "meta.json") && fs::exists(dir / "deit_s_op17" / "meta.json")) return dir;
  if (!fs::exists("/usr/bin/python3")) {
    *why = "/usr/bin/python3 not found";
    return {};
  }
  if (std::system("/usr/bin/python3 -c 'import torch, torchvision, onnx' >/dev/null 2>&1") != 0) {
    *why = "Debian's python3-torch/torchvision/onnx are not installed";
    return {};
  }
  const std::string cmd = "/usr/bin/python3 " + (fs::path(QVIT_SOURCE_DIR) / "tools" / "make_parity_cases.py").string() +
                          " --out " + dir.string() + " --case big";
  if (std::system(cmd.c_str()) != 0) {
    *why = "generating the cases failed: " + cmd;
    return {};
  }
  return dir;
}

class BigParity : public ::testing::TestWithParam<std::string> {};

TEST_P(BigParity, MatchesPyTorch) {
  std::string why;
  const fs::path dir = big_cases_dir(&why);
  if (dir.empty()) GTEST_SKIP() << why;
  expect_parity(dir / GetParam());
}

INSTANTIATE_TEST_SUITE_P(ImageNetSize, BigParity, ::testing::Values("deit_s_op13", "deit_s_op17", "swin_t_op17"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
