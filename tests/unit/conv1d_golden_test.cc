// 1-D Conv ([N, C, L]) against numpy: tools/make_conv1d_golden.py writes cases with strides,
// asymmetric pads, dilations, groups (depthwise too), auto_pad and with/without bias; each is
// built as a one-node ONNX model (onnx_synth), imported and run with the input as a graph input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ir/executor.h"
#include "onnx/onnx_import.h"
#include "onnx/onnx_synth.h"
#include "util/npy.h"

namespace qvit {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(QVIT_TEST_DIR) / "golden" / "conv1d";

TEST(Conv1dGolden, MatchesNumpy) {
  int cases = 0;
  for (int i = 0; fs::exists(kDir / ("case" + std::to_string(i) + "_x.npy")); ++i, ++cases) {
    const std::string base = (kDir / ("case" + std::to_string(i))).string();
    SCOPED_TRACE(base);
    const Tensor x = read_npy(base + "_x.npy"), w = read_npy(base + "_w.npy"), want = read_npy(base + "_y.npy");
    const std::vector<int64_t> a = read_npy(base + "_attrs.npy").as_int64s();
    ASSERT_EQ(a.size(), 6u);
    std::vector<Tensor> inputs = {x, w};
    if (fs::exists(base + "_b.npy")) inputs.push_back(read_npy(base + "_b.npy"));
    std::map<std::string, AttrValue> attrs = {{"strides", std::vector<int64_t>{a[0]}},
                                              {"dilations", std::vector<int64_t>{a[3]}},
                                              {"group", a[4]},
                                              {"kernel_shape", std::vector<int64_t>{w.shape()[2]}}};
    static const char* const kAutoPad[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    if (a[5] == 0) attrs["pads"] = std::vector<int64_t>{a[1], a[2]};
    else attrs["auto_pad"] = std::string(kAutoPad[a[5]]);
    const Graph g = import_onnx_bytes(synth_onnx_bytes(single_node_model("Conv", inputs, attrs, 1, {0})), base + ".onnx");
    const Tensor got = Executor(g).run({x}).at(0);
    ASSERT_EQ(got.shape(), want.shape());
    for (int64_t k = 0; k < want.numel(); ++k) {
      const float y = want.data<float>()[k];
      EXPECT_NEAR(got.data<float>()[k], y, 1e-5 * std::max(1.0f, std::fabs(y))) << "element " << k;
    }
  }
  EXPECT_GE(cases, 9) << "golden files missing: run tools/make_conv1d_golden.py";
}

// The 2-D path is unchanged by the 1-D support: a 1-D Conv equals the 2-D Conv of height 1.
TEST(Conv1dGolden, EqualsTwoDimensionalOfHeightOne) {
  const std::string base = (kDir / "case3").string();
  const Tensor x = read_npy(base + "_x.npy"), w = read_npy(base + "_w.npy"), b = read_npy(base + "_b.npy");
  const std::vector<int64_t> a = read_npy(base + "_attrs.npy").as_int64s();
  std::map<std::string, AttrValue> a1 = {{"strides", std::vector<int64_t>{a[0]}}, {"pads", std::vector<int64_t>{a[1], a[2]}},
                                         {"dilations", std::vector<int64_t>{a[3]}}, {"group", a[4]}};
  std::map<std::string, AttrValue> a2 = {{"strides", std::vector<int64_t>{1, a[0]}},
                                         {"pads", std::vector<int64_t>{0, a[1], 0, a[2]}},
                                         {"dilations", std::vector<int64_t>{1, a[3]}},
                                         {"group", a[4]}};
  auto run = [](const std::vector<Tensor>& in, const std::map<std::string, AttrValue>& attrs) {
    const Graph g = import_onnx_bytes(synth_onnx_bytes(single_node_model("Conv", in, attrs)), "conv.onnx");
    return g.constant(g.outputs[0]);
  };
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  const Tensor y1 = run({x, w, b}, a1);
  const Tensor y2 = run({x.reshaped({xs[0], xs[1], 1, xs[2]}), w.reshaped({ws[0], ws[1], 1, ws[2]}), b}, a2);
  ASSERT_EQ(y2.numel(), y1.numel());
  for (int64_t k = 0; k < y1.numel(); ++k) EXPECT_FLOAT_EQ(y1.data<float>()[k], y2.data<float>()[k]);
}

}  // namespace
}  // namespace qvit
