// Hostile .int.onnx files: real exports (the fuzz targets' tiny ViT lowered with each nonlinear
// family and a log-√2 softmax, plus a small conv/pool/mean model built here) are mutated by
// mutate_int_onnx and must then load and run, or be refused with one qvit::Error line — never an
// InternalError (a QVIT_CHECK reached from input), another exception, or a crash. Explicit cases
// pin the message for each attribute class, initializer and metadata field, and the kernels'
// own checks for graphs that never went through a file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>

#include "calib/calibration_result.h"
#include "intgraph/int_ops.h"
#include "intgraph/lower.h"
#include "ir/executor.h"
#include "onnx/int_onnx_export.h"
#include "onnx/int_onnx_mutate.h"
#include "runtime/int_model.h"
#include "runtime/reparameterized_graph.h"

namespace qvit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFuzzModels = fs::path(QVIT_SOURCE_DIR) / "tests" / "golden" / "fuzz_models";
constexpr const char* kSource = "hostile.int.onnx";

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Tensor int_tensor(Shape shape, std::vector<int32_t> v) {
  Tensor t(DType::Int32, std::move(shape));
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t;
}

// A graph the tiny ViT does not have: conv (int4 weights) → per-channel requantize → ReLU clamp →
// max pool → sign flips → mean → add of a constant → linear (int8 weights) → requantize.
LoweredModel conv_model() {
  LoweredModel lm;
  Graph& g = lm.graph;
  g.source = "conv_model";
  g.opset = 17;
  auto value = [&](const std::string& name, Shape shape) {
    Value v;
    v.name = name;
    v.dtype = DType::Int32;
    v.shape = std::move(shape);
    return g.add_value(std::move(v));
  };
  auto node = [&](const std::string& op, std::vector<int> in, Shape out, std::map<std::string, AttrValue> attrs) {
    Node n;
    n.op = op;
    n.name = op + "_" + std::to_string(g.nodes.size());
    n.inputs = std::move(in);
    n.attrs = std::move(attrs);
    n.outputs = {value(n.name + ":out", std::move(out))};
    g.nodes.push_back(std::move(n));
    return g.nodes.back().outputs[0];
  };
  std::vector<int32_t> w(4 * 2 * 3 * 3), sign(9), lin(4 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int32_t>(i % 15) - 7;
  for (size_t i = 0; i < sign.size(); ++i) sign[i] = i % 2 ? -1 : 1;
  for (size_t i = 0; i < lin.size(); ++i) lin[i] = static_cast<int32_t>(i * 17 % 200) - 100;
  const int x = value("x", {2, 2, 6, 6});
  g.inputs = {x};
  int y = node("QConv", {x, g.add_constant("w", int_tensor({4, 2, 3, 3}, w)), g.add_constant("b", int_tensor({4}, {1, -2, 3, -4}))},
               {2, 4, 6, 6}, {{"strides", std::vector<int64_t>{1, 1}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  y = node("QRequantize", {y, g.add_constant("rq", int_tensor({4, 3}, {0, 3, 4, 0, 5, 5, 1, 7, 6, 0, 1, 2}))}, {2, 4, 6, 6},
           {{"axis", int64_t{1}}, {"lo", int64_t{-128}}, {"hi", int64_t{127}}});
  y = node("QClamp", {y}, {2, 4, 6, 6}, {{"lo", int64_t{0}}, {"hi", int64_t{INT32_MAX}}});
  y = node("QMaxPool", {y}, {2, 4, 3, 3}, {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}});
  y = node("QMulConst", {y, g.add_constant("sign", int_tensor({3, 3}, sign))}, {2, 4, 3, 3}, {});
  y = node("QMean", {y}, {2, 4}, {{"axes", std::vector<int64_t>{2, 3}}, {"keepdims", int64_t{0}}});
  y = node("QAdd", {y, g.add_constant("pos", int_tensor({4}, {5, -5, 9, 0})), g.add_constant("add_rq", int_tensor({2, 3}, {0, 3, 0, 0, 5, 1}))},
           {2, 4}, {{"shift", int64_t{1}}, {"lo", int64_t{-1000}}, {"hi", int64_t{1000}}});
  y = node("QMatMul", {y, g.add_constant("lin", int_tensor({4, 3}, lin)), g.add_constant("lin_b", int_tensor({3}, {10, 0, -10}))}, {2, 3}, {});
  y = node("QRequantize", {y, g.add_constant("out_rq", int_tensor({1, 3}, {0, 1, 3}))}, {2, 3},
           {{"axis", int64_t{-1}}, {"lo", int64_t{-128}}, {"hi", int64_t{127}}});
  g.outputs = {y};
  g.rebuild_index();
  lm.input = {QuantScheme::Asymmetric, 8, 0.02f, 128};
  lm.outputs = {{{0.05}, -1}};
  return lm;
}

// The tiny ViT of the fuzz targets, lowered from its calibration (optionally with a 4-bit log-√2
// softmax point, which makes the lowering emit QLog2Codes and QLog2MatMul).
LoweredModel tiny_vit(NonlinearFamily family, bool log2_softmax, int64_t batch) {
  CalibrationResult calib = load_calibration_result((kFuzzModels / "tiny_vit.calib.json").string());
  if (log2_softmax)
    for (auto& a : calib.activations)
      if (a.role == "softmax") a.params = {QuantScheme::LogSqrt2, 4, 1.0f, 0};
  const Graph g = load_reparameterized((kFuzzModels / "tiny_vit.onnx").string(), calib, batch, true);
  LoweringOptions options;
  options.family = family;
  return lower_to_integer(g, calib, options);
}

struct Base {
  std::string name, bytes;
};

class IntOnnxHostile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("qvit_int_onnx_hostile_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto add = [](const std::string& name, const LoweredModel& lm) {
      const fs::path p = dir_ / (name + ".int.onnx");
      save_int_onnx(lm, p.string(), "int_onnx_hostile_test");
      bases_.push_back({name, read_bytes(p)});
    };
    add("conv", conv_model());
    if (!fs::exists(kFuzzModels / "tiny_vit.onnx")) return;
    add("tiny_int32safe", tiny_vit(NonlinearFamily::Int32Safe, false, 1));
    add("tiny_shift", tiny_vit(NonlinearFamily::Shift, false, 2));
    add("tiny_poly", tiny_vit(NonlinearFamily::Poly, false, 1));
    add("tiny_log2", tiny_vit(NonlinearFamily::Int32Safe, true, 3));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static const std::string& base(const std::string& name) {
    for (const Base& b : bases_)
      if (b.name == name) return b.bytes;
    throw std::runtime_error("no base model " + name);
  }
  static bool has(const std::string& name) {
    return std::any_of(bases_.begin(), bases_.end(), [&](const Base& b) { return b.name == name; });
  }

  static inline fs::path dir_;
  static inline std::vector<Base> bases_;
};

// Loads and runs (a full batch with truncation counts, then a short one: the padding path); ""
// when it ran, else the Error. Anything but a qvit::Error escapes.
std::string load_and_run(const std::string& bytes) {
  std::optional<IntModel> model;
  try {
    model.emplace(load_int_onnx_bytes(bytes, kSource));
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(std::string(kSource) + ": ", 0), 0u) << "a load error must name the file: " << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    return what.empty() ? "?" : what;
  }
  try {
    const Shape s = model->lowered().graph.value(model->lowered().graph.inputs[0]).shape;
    if (shape_numel(s) > (1 << 20)) return "";  // valid but slow to run; the load is what is under test
    Tensor x(DType::Float32, s);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 13) * 0.4f - 2.4f;
    IntRunStats stats;
    model->run(x, &stats);
    if (s[0] > 1) {
      Shape short_batch = s;
      short_batch[0] = s[0] - 1;
      model->run(Tensor(DType::Float32, short_batch), &stats);
    }
    return "";
  } catch (const Error& e) {
    return std::string("run: ") + e.what();
  }
}

TEST_F(IntOnnxHostile, UnmutatedExportsLoadAndRunLikeTheLoweredModel) {
  for (const Base& b : bases_) EXPECT_EQ(load_and_run(b.bytes), "") << b.name;
  const LoweredModel direct = conv_model();
  IntModel a{LoweredModel(direct)}, b(load_int_onnx_bytes(base("conv"), kSource));
  Tensor x(DType::Float32, {2, 2, 6, 6});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 11) * 0.3f - 1.5f;
  const Tensor ya = a.run_integer(x), yb = b.run_integer(x);
  ASSERT_EQ(ya.shape(), yb.shape());
  for (int64_t i = 0; i < ya.numel(); ++i) EXPECT_EQ(ya.data<int32_t>()[i], yb.data<int32_t>()[i]) << i;
}

TEST_F(IntOnnxHostile, RandomMutationsLoadAndRunOrFailWithOneError) {
  // QVIT_HOSTILE_MUTATIONS=N runs a longer campaign (the suite's default is 2000), and
  // QVIT_HOSTILE_MODELS=DIR mutates the .int.onnx exports in DIR too (e.g. of the zoo models).
  const char* env = std::getenv("QVIT_HOSTILE_MUTATIONS");
  const int kMutations = env ? std::max(1, std::atoi(env)) : 2000;
  std::vector<Base> bases = bases_;
  if (const char* dir = std::getenv("QVIT_HOSTILE_MODELS"))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().string().ends_with(".int.onnx")) bases.push_back({e.path().filename().string(), read_bytes(e.path())});
  int ran = 0, refused = 0;
  for (int i = 0; i < kMutations; ++i) {
    const Base& b = bases[static_cast<size_t>(i) % bases.size()];
    std::mt19937 rng(static_cast<uint32_t>(i) * 2654435761u + 17);
    std::vector<uint8_t> choices(1 + rng() % 48);
    for (auto& c : choices) c = static_cast<uint8_t>(rng());
    std::string outcome;
    try {
      outcome = load_and_run(testing::mutate_int_onnx(b.bytes, choices.data(), choices.size()));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "mutation " << i << " of " << b.name << " threw a non-qvit::Error: " << e.what();
      continue;
    }
    (outcome.empty() ? ran : refused)++;
  }
  std::printf("[ mutated ] %d models: %d ran, %d refused with one error line\n", kMutations, ran, refused);
  // Not vacuous: many mutations are refused, and some leave a model that still runs.
  EXPECT_GT(refused, kMutations / 4);
  EXPECT_GT(ran, kMutations / 50);
}

struct AttributeCase {
  std::string base, op, attribute;
  int64_t value;
  std::string expected;
};

TEST_F(IntOnnxHostile, EveryAttributeClassIsRangeCheckedAtLoad) {
  const AttributeCase cases[] = {
      {"conv", "QAdd", "shift", 64, "node 'QAdd_6' (QAdd): attribute 'shift' = 64 is outside [0, 31]"},
      {"conv", "QAdd", "shift", -1, "attribute 'shift' = -1 is outside [0, 31]"},
      {"conv", "QAdd", "hi", -1001, "attribute 'lo' = -1000 is above attribute 'hi' = -1001"},
      {"conv", "QClamp", "hi", -1, "attribute 'lo' = 0 is above attribute 'hi' = -1"},
      {"conv", "QClamp", "lo", int64_t{INT32_MIN} - 1, "attribute 'lo' = -2147483649 is outside [-2147483648, 2147483647]"},
      {"conv", "QRequantize", "axis", 4, "attribute 'axis' = 4 is outside [-4, 3]"},
      {"conv", "QRequantize", "axis", 0, "4 rows (per channel), the input [2,4,6,6] has 2 channels along axis 0"},
      {"conv", "QConv", "group", 2, "attribute 'group' = 2 is outside [1, 1]"},
      {"conv", "QMean", "keepdims", 2, "attribute 'keepdims' = 2 is outside [0, 1]"},
      {"conv", "QMaxPool", "ceil_mode", -1, "attribute 'ceil_mode' = -1 is outside [0, 1]"},
      {"conv", "QAdd", "qvit_unknown", 1, "unknown attribute 'qvit_unknown' (QAdd has shift, lo, hi)"},
      {"tiny_log2", "QLog2Codes", "code_bits", 0, "attribute 'code_bits' = 0 is outside [1, 16]"},
      {"tiny_log2", "QLog2Codes", "code_bits", 33, "attribute 'code_bits' = 33 is outside [1, 16]"},
      {"tiny_log2", "QLog2Codes", "frac_bits", 32, "attribute 'frac_bits' = 32 is outside [0, 31]"},
      {"tiny_log2", "QLog2MatMul", "frac_bits", 31, "attribute 'frac_bits' = 31 is outside [0, 30]"},
      {"tiny_log2", "QLog2MatMul", "frac_bits", -1, "attribute 'frac_bits' = -1 is outside [0, 30]"},
      {"tiny_log2", "QLog2MatMul", "sqrt2", 0, "attribute 'sqrt2' = 0 is outside [1, 2147483647]"},
      {"tiny_log2", "QLog2MatMul", "code_bits", 17, "attribute 'code_bits' = 17 is outside [1, 16]"},
      {"tiny_shift", "QShiftmax", "n", 31, "attribute 'n' = 31 is outside [0, 30]"},
      {"tiny_shift", "QShiftmax", "i0", 0, "attribute 'i0' = 0 is outside [-1073741824, -1]"},
      {"tiny_shift", "QShiftmax", "out_bits", 32, "attribute 'out_bits' = 32 is outside [2, 31]"},
      {"tiny_shift", "QShiftmax", "i0", -(int64_t{1} << 30), "n·i0 does not fit int32"},
      {"tiny_shift", "QShiftGelu", "sigmoid_bits", 1, "attribute 'sigmoid_bits' = 1 is outside [2, 31]"},
      {"tiny_shift", "QShiftGelu", "n", int64_t{1} << 40, "attribute 'n' = 1099511627776 is outside [0, 30]"},
      {"tiny_int32safe", "QInt32SafeSoftmax", "m_star", 0, "attribute 'm_star' = 0 is outside [1, 30]"},
      {"tiny_int32safe", "QInt32SafeSoftmax", "m_star", 31, "attribute 'm_star' = 31 is outside [1, 30]"},
      {"tiny_int32safe", "QInt32SafeSoftmax", "z_max", 31, "attribute 'z_max' = 31 is outside [0, 30]"},
      {"tiny_int32safe", "QInt32SafeSoftmax", "ln2", 1 << 30, "z_max·ln2 does not fit int32"},
      {"tiny_poly", "QIBertSoftmax", "ln2", 0, "attribute 'ln2' = 0 is outside [1, 2147483647]"},
      {"tiny_poly", "QIBertGelu", "shift", 32, "attribute 'shift' = 32 is outside [0, 31]"},
      {"tiny_poly", "QIBertGelu", "clip", 0, "attribute 'clip' = 0 is outside [1, 2147483647]"},
      {"tiny_int32safe", "QLayerNorm", "input_bits", 31, "attribute 'input_bits' = 31 is outside [1, 30]"},
      {"tiny_int32safe", "QLayerNorm", "shift_m", -1, "attribute 'shift_m' = -1 is outside [0, 30]"},
      {"tiny_int32safe", "QLayerNorm", "shift_m", 30, "input_bits + shift_m must be <= 31"},
      {"tiny_int32safe", "QLayerNorm", "var_eps", -1, "attribute 'var_eps' = -1 is outside [0, 2147483647]"},
      {"tiny_int32safe", "QRequantize", "lo", INT64_MAX, "attribute 'lo' = 9223372036854775807 is outside"},
  };
  for (const AttributeCase& c : cases) {
    if (!has(c.base)) continue;
    const std::string error = load_and_run(testing::set_int_onnx_attribute(base(c.base), c.op, c.attribute, c.value));
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.op << "." << c.attribute << " = " << c.value << ": " << error;
    EXPECT_EQ(error.rfind("run:", 0), std::string::npos) << "refused only when run: " << error;
  }
}

TEST_F(IntOnnxHostile, ListAttributesAndAttributeKindsAreChecked) {
  const struct {
    std::string op, attribute;
    std::vector<int64_t> values;
    std::string expected;
  } cases[] = {
      {"QConv", "strides", {0, 1}, "attribute 'strides' = [0, 1]: 0 is outside [1, 65536]"},
      {"QConv", "pads", {-1, 0, 0, 0}, "attribute 'pads' = [-1, 0, 0, 0]: -1 is outside [0, 65536]"},
      {"QConv", "dilations", {1}, "attribute 'dilations' = [1] has 1 values, expected 2"},
      {"QConv", "pads", {100, 100, 100, 100}, "output is declared [2,4,6,6], the op gives [2,4,204,204]"},
      {"QMaxPool", "kernel_shape", {0, 2}, "attribute 'kernel_shape' = [0, 2]: 0 is outside [1, 65536]"},
      {"QMaxPool", "kernel_shape", {2, 2, 2}, "attribute 'kernel_shape' has 3 values, the input [2,4,6,6] needs 2"},
      {"QMean", "axes", {4}, "attribute 'axes' = 4 is outside [-4, 3]"},
      {"QMean", "axes", {2, -2}, "attribute 'axes' repeats axis -2"},
      {"QAdd", "shift", {1}, "attribute 'shift' must be an int"},
  };
  for (const auto& c : cases) {
    const std::string error = load_and_run(testing::set_int_onnx_attribute_ints(base("conv"), c.op, c.attribute, c.values));
    if (c.expected.empty()) EXPECT_EQ(error, "") << c.op << "." << c.attribute;
    else EXPECT_NE(error.find(c.expected), std::string::npos) << c.op << "." << c.attribute << ": " << error;
  }
}

TEST_F(IntOnnxHostile, InitializersAreCheckedAgainstTheirNodes) {
  const std::string& conv = base("conv");
  using testing::set_int_onnx_initializer_dims;
  using testing::set_int_onnx_initializer_element;
  const struct {
    std::string bytes, expected;
  } cases[] = {
      {set_int_onnx_initializer_element(conv, "QRequantize", 1, 2, 64), "input 1 (requantizer table) row 0: post_shift = 64 is outside [0, 62]"},
      {set_int_onnx_initializer_element(conv, "QRequantize", 1, 3, -1), "row 1: pre_shift = -1 is outside [0, 31]"},
      {set_int_onnx_initializer_element(conv, "QRequantize", 1, 4, -7), "row 1: m0 = -7 is outside [0, 2147483647]"},
      {set_int_onnx_initializer_element(conv, "QAdd", 2, 0, 32), "row 0: pre_shift = 32 is outside [0, 31]"},
      {set_int_onnx_initializer_dims(conv, "QAdd", 2, {3, 2}), "input 2 (requantizer table) must be int32 [2,3], is int32 [3,2]"},
      {set_int_onnx_initializer_dims(conv, "QRequantize", 1, {2, 6}), "must be int32 [C≥1,3], is int32 [2,6]"},
      {set_int_onnx_initializer_dims(conv, "QMatMul", 1, {3, 4}), "inner dimensions differ: [2,4] × [3,4]"},
      {set_int_onnx_initializer_dims(conv, "QMatMul", 2, {1, 3}), ""},  // same 3 elements: a valid bias
      {set_int_onnx_initializer_dims(conv, "QMatMul", 2, {2}), "tensor 'lin_b' of shape [2] holds 12 data bytes"},
      {set_int_onnx_initializer_dims(conv, "QMulConst", 1, {9, 1}), ""},  // 9 factors repeating: valid
      {set_int_onnx_initializer_dims(conv, "QMulConst", 1, {0}), "sign"},
      {testing::drop_int_onnx_input(conv, "QAdd", 2), "has 2 inputs, expected 3"},
      {testing::drop_int_onnx_input(conv, "QConv", 2), ""},  // the bias is optional
  };
  for (const auto& c : cases) {
    const std::string error = load_and_run(c.bytes);
    if (c.expected.empty()) EXPECT_EQ(error, "");
    else EXPECT_NE(error.find(c.expected), std::string::npos) << c.expected << " | got: " << error;
  }
  if (!has("tiny_int32safe")) return;
  EXPECT_NE(load_and_run(set_int_onnx_initializer_dims(base("tiny_int32safe"), "QLayerNorm", 3, {24, 1})).find("must be int32 [8,3]"),
            std::string::npos);
}

TEST_F(IntOnnxHostile, BoundaryMetadataIsChecked) {
  const std::string& conv = base("conv");
  auto edited = [&](const std::string& key, const std::function<void(json&)>& edit) {
    json j = json::parse(testing::int_onnx_metadata(conv, key));
    edit(j);
    return load_and_run(testing::set_int_onnx_metadata(conv, key, j.dump()));
  };
  EXPECT_NE(edited("qvit.input", [](json& j) { j["scale"] = 0; }).find("metadata 'qvit.input': field \"scale\": 0 is outside"), std::string::npos);
  EXPECT_NE(edited("qvit.input", [](json& j) { j["scale"] = nullptr; }).find("field \"scale\": expected a number"), std::string::npos);
  EXPECT_NE(edited("qvit.input", [](json& j) { j["bits"] = 33; }).find("field \"bits\": 33 is outside [2, 16]"), std::string::npos);
  EXPECT_NE(edited("qvit.input", [](json& j) { j["zero_point"] = 256; }).find("field \"zero_point\": 256 is outside [0, 255]"),
            std::string::npos);
  EXPECT_NE(edited("qvit.input", [](json& j) { j["scheme"] = "log_sqrt2"; }).find("field \"scheme\""), std::string::npos);
  EXPECT_NE(edited("qvit.outputs", [](json& j) { j[0]["scales"] = json::array(); }).find("no scales"), std::string::npos);
  EXPECT_NE(edited("qvit.outputs", [](json& j) { j[0]["scales"] = {-1.0}; }).find("field \"[0].scales[0]\""), std::string::npos);
  EXPECT_NE(edited("qvit.outputs", [](json& j) {
              j[0]["scales"] = {1.0, 2.0};
              j[0]["axis"] = 1;
            }).find("do not match the output shape [2,3]"),
            std::string::npos);
  EXPECT_NE(edited("qvit.outputs", [](json& j) { j.push_back(j[0]); }).find("lists 2 outputs, the graph has 1"), std::string::npos);
  EXPECT_EQ(edited("qvit.outputs", [](json& j) {  // one scale per class: valid
              j[0]["scales"] = {1.0, 2.0, 3.0};
              j[0]["axis"] = 1;
            }),
            "");
  EXPECT_NE(load_and_run(testing::set_int_onnx_metadata(conv, "qvit.outputs", std::string(100000, '['))).find("nested more than"),
            std::string::npos);
  EXPECT_NE(load_and_run(testing::set_int_onnx_metadata(conv, "qvit.nonlinear", "cubic")).find("'cubic' is not shift, poly or int32safe"),
            std::string::npos);
  EXPECT_NE(edited("qvit.int4_weights", [](json& j) { j["w"] = {4, 2, 3, 4}; }).find("packed int4 weight holds 36 bytes for shape [4,2,3,4]"),
            std::string::npos);
  EXPECT_NE(edited("qvit.int4_weights", [](json& j) { j["nothing"] = {1}; }).find("names initializer 'nothing'"), std::string::npos);
  if (!has("tiny_int32safe")) return;
  const std::string& tiny = base("tiny_int32safe");
  json bounds = json::parse(testing::int_onnx_metadata(tiny, "qvit.kernel_bounds"));
  ASSERT_FALSE(bounds.empty());
  bounds[0]["worst_abs"] = -1;
  EXPECT_NE(load_and_run(testing::set_int_onnx_metadata(tiny, "qvit.kernel_bounds", bounds.dump())).find("worst_abs\": -1 is outside"),
            std::string::npos);
  bounds[0]["worst_abs"] = 1e12;
  EXPECT_NE(load_and_run(testing::set_int_onnx_metadata(tiny, "qvit.kernel_bounds", bounds.dump())).find("contradicts worst_abs"),
            std::string::npos);
  bounds[0]["fits_int32"] = false;
  EXPECT_NE(load_and_run(testing::set_int_onnx_metadata(tiny, "qvit.kernel_bounds", bounds.dump())).find("an int32safe model cannot"),
            std::string::npos);
}

// Graphs that never went through a file reach the same checks in the kernels themselves.
TEST(IntKernelsHostile, KernelsCheckTheirNodeBeforeRunning) {
  LoweredModel lm = conv_model();
  for (Node& n : lm.graph.nodes)
    if (n.op == "QAdd") n.attrs["shift"] = int64_t{64};
  Executor ex(lm.graph, find_int_op);
  try {
    ex.run({Tensor(DType::Int32, {2, 2, 6, 6})});
    FAIL() << "a QAdd with shift 64 ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attribute 'shift' = 64 is outside [0, 31]"), std::string::npos) << e.what();
  }
  // And the exporter refuses to write it.
  EXPECT_THROW(save_int_onnx(lm, (fs::temp_directory_path() / "qvit_never_written.int.onnx").string(), ""), Error);
}

TEST(IntKernelsHostile, FastMatMulNeverOverflowsOnInt32Min) {
  // max |a| = 2^31 does not fit int32: the bound must send this to the saturating reference
  // (INT32_MIN · −1 = 2^31 saturates to INT32_MAX, one truncation), never the plain int32 loop.
  Graph g;
  g.source = "test";
  Value a;
  a.name = "a";
  a.dtype = DType::Int32;
  a.shape = {1, 1};
  g.inputs = {g.add_value(a)};
  Node n;
  n.op = "QMatMul";
  n.name = "mm";
  n.inputs = {g.inputs[0], g.add_constant("w", int_tensor({1, 1}, {-1}))};
  Value y;
  y.name = "y";
  y.dtype = DType::Int32;
  y.shape = {1, 1};
  n.outputs = {g.add_value(y)};
  g.nodes.push_back(n);
  g.outputs = {n.outputs[0]};
  g.rebuild_index();
  IntRunStats stats;
  const Tensor out = Executor(g, find_int_op).run({int_tensor({1, 1}, {INT32_MIN})}, nullptr, &stats).at(0);
  EXPECT_EQ(out.data<int32_t>()[0], INT32_MAX);
  EXPECT_EQ(stats.per_node["mm"].events, 1u);
}

}  // namespace
}  // namespace qvit
