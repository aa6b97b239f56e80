// Hostile calibration files: edits of a real calibration (the fuzz targets' tiny ViT) must be
// refused with one qvit::Error naming the file and the field — by parse_calibration_result for
// what the file says about itself, by the lowering for what needs the model (tensor and node
// names, channel counts, row lengths) — or lower and run. Never an InternalError (the fuzzer's
// short per-channel zero_point list reached a QVIT_CHECK / std::out_of_range), never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "calib/calibration_result.h"
#include "calib/reparam.h"
#include "intgraph/lower.h"
#include "onnx/onnx_import.h"
#include "runtime/int_model.h"

namespace qvit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFuzzModels = fs::path(QVIT_SOURCE_DIR) / "tests" / "golden" / "fuzz_models";
constexpr const char* kSource = "hostile.calib.json";

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class CalibHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFuzzModels / "tiny_vit.calib.json")) GTEST_SKIP() << kFuzzModels << " is missing";
  }
  static json base() { return json::parse(read_text(kFuzzModels / "tiny_vit.calib.json")); }
  static const Graph& model() {
    static const Graph g = [] {
      ImportOptions opt;
      opt.batch = 1;
      return import_onnx((kFuzzModels / "tiny_vit.onnx").string(), opt);
    }();
    return g;
  }

  // "" when the edited file parses, else the Error.
  static std::string parse_error(const json& j) {
    try {
      parse_calibration_result(j.dump(), kSource);
      return "";
    } catch (const Error& e) {
      return e.what();
    }
  }

  // Parse, reparameterize, lower and run one zero image: "" when all of it worked, else the Error.
  // (load_reparameterized without the import, which is done once.)
  static std::string lower_error(const json& j, std::optional<NonlinearFamily> family = std::nullopt) {
    try {
      const CalibrationResult calib = parse_calibration_result(j.dump(), kSource);
      Graph g = model();
      for (const auto& r : calib.reparams) apply_reparam(g, r);
      g.rebuild_index();
      LoweringOptions options;
      options.family = family ? *family : nonlinear_family_from_name(calib.recipe.nonlinear);
      IntModel m(lower_to_integer(g, calib, options));
      m.run(Tensor(DType::Float32, {1, 1, 28, 28}));
      return "";
    } catch (const Error& e) {
      return e.what();
    }
  }

  static void expect_refused(const std::string& error, const std::string& field, const std::string& problem) {
    EXPECT_EQ(error.rfind(std::string(kSource) + ": ", 0), 0u) << "names the file: " << error;
    EXPECT_NE(error.find("field \"" + field + "\""), std::string::npos) << "names " << field << ": " << error;
    EXPECT_NE(error.find(problem), std::string::npos) << problem << " | " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }

  static json edited(const std::function<void(json&)>& edit) {
    json j = base();
    edit(j);
    return j;
  }
};

TEST_F(CalibHostile, TheRealCalibrationLowersAndRuns) { EXPECT_EQ(lower_error(base()), ""); }

TEST_F(CalibHostile, ShortZeroPointListIsOneErrorNamingTheField) {
  // The fuzzer's input: 8 scales, 7 zero points.
  expect_refused(parse_error(edited([](json& j) { j["weights"][0]["zero_point"] = std::vector<int>(7, 0); })), "weights[0].zero_point",
                 "has 7 entries, scale has 8 (one per output channel, or none)");
  const fs::path regress = fs::path(QVIT_SOURCE_DIR) / "tests/golden/fuzz/calib_lower/regress_short_zero_point.calib.json";
  if (fs::exists(regress)) {
    EXPECT_THROW(parse_calibration_result(read_text(regress), "regress.calib.json"), Error);
  }
  // No zero points (what calibration writes for symmetric weights), or one per channel, are fine.
  EXPECT_EQ(lower_error(base()), "");
  EXPECT_EQ(lower_error(edited([](json& j) { j["weights"][0]["zero_point"] = std::vector<int>(8, 0); })), "");
}

TEST_F(CalibHostile, ScalesMustBeFinitePositiveAndInRange) {
  const struct {
    std::function<void(json&)> edit;
    std::string field, problem;
  } cases[] = {
      {[](json& j) { j["weights"][0]["scale"][3] = 0.0; }, "weights[0].scale[3]", "is outside"},
      {[](json& j) { j["weights"][0]["scale"][3] = -0.5; }, "weights[0].scale[3]", "is outside"},
      {[](json& j) { j["weights"][0]["scale"][3] = NAN; }, "weights[0].scale[3]", "expected a number, got null"},
      {[](json& j) { j["weights"][0]["scale"][3] = "NaN"; }, "weights[0].scale[3]", "expected a number"},
      {[](json& j) { j["weights"][0]["scale"][3] = 1e-40; }, "weights[0].scale[3]", "is outside"},
      {[](json& j) { j["weights"][0]["scale"] = json::array(); }, "weights[0].scale", "no entries"},
      {[](json& j) { j["activations"][0]["params"]["scale"] = 0; }, "activations[0].params.scale", "is outside"},
      {[](json& j) { j["activations"][0]["params"]["scale"] = -1; }, "activations[0].params.scale", "is outside"},
      {[](json& j) { j["activations"][0]["params"]["scale"] = 1e31; }, "activations[0].params.scale", "is outside"},
      {[](json& j) { j["activations"][0]["params"]["scale"] = nullptr; }, "activations[0].params.scale", "expected a number"},
      {[](json& j) { j["reparams"] = {{{"layernorm", "/ln1/LayerNormalization"}, {"consumers", json::array()},
                                       {"r1", {0.0}}, {"offset", {0.0}}}}; },
       "reparams[0].r1[0]", "is outside"},
  };
  for (const auto& c : cases) expect_refused(parse_error(edited(c.edit)), c.field, c.problem);
}

TEST_F(CalibHostile, BitsAndZeroPointsMustBeInTheCodeRange) {
  const struct {
    std::function<void(json&)> edit;
    std::string field, problem;
  } cases[] = {
      {[](json& j) { j["activations"][0]["params"]["bits"] = 1; }, "activations[0].params.bits", "1 is outside [2, 16]"},
      {[](json& j) { j["activations"][0]["params"]["bits"] = 17; }, "activations[0].params.bits", "17 is outside [2, 16]"},
      {[](json& j) { j["activations"][0]["params"]["bits"] = 1e20; }, "activations[0].params.bits", "expected an integer"},
      {[](json& j) { j["activations"][0]["params"]["zero_point"] = 256; }, "activations[0].params.zero_point", "256 is outside [0, 255]"},
      {[](json& j) { j["activations"][0]["params"]["zero_point"] = -1; }, "activations[0].params.zero_point", "-1 is outside [0, 255]"},
      {[](json& j) { j["activations"][0]["params"]["bits"] = 4; }, "activations[0].params.zero_point", "131 is outside [0, 15]"},
      {[](json& j) { j["activations"][0]["params"]["scheme"] = "symmetric"; }, "activations[0].params.zero_point", "131 is outside [0, 0]"},
      {[](json& j) { j["activations"][0]["params"]["scheme"] = "cubic"; }, "activations[0].params.scheme", "is not one of"},
      {[](json& j) { j["weights"][0]["bits"] = 9; }, "weights[0].bits", "9 is outside [2, 8]"},
      {[](json& j) {
         j["weights"][0]["zero_point"] = std::vector<int>(8, 0);
         j["weights"][0]["zero_point"][2] = 1;
       },
       "weights[0].zero_point[2]", "1 is outside [0, 0]"},
      {[](json& j) {
         j["weights"][0]["scheme"] = "asymmetric";
         j["weights"][0]["zero_point"] = std::vector<int>(8, 0);
         j["weights"][0]["zero_point"][2] = 256;
       },
       "weights[0].zero_point[2]", "256 is outside [0, 255]"},
      {[](json& j) { j["softmax"][0]["m_star"] = 0; }, "softmax[0].m_star", "0 is outside [1, 30]"},
      {[](json& j) { j["softmax"][0]["m_star"] = 31; }, "softmax[0].m_star", "31 is outside [1, 30]"},
      {[](json& j) { j["weights"] = json::object(); }, "weights", "expected an array"},
      {[](json& j) { j["weights"][0] = 5; }, "weights[0]", "expected an object"},
      {[](json& j) { j["activations"][0]["params"] = json::array(); }, "activations[0].params", "expected an object"},
  };
  for (const auto& c : cases) expect_refused(parse_error(edited(c.edit)), c.field, c.problem);
}

TEST_F(CalibHostile, DuplicateEntriesAreRefused) {
  json j = base();
  j["activations"].push_back(j["activations"][0]);
  const std::string last_activation = "activations[" + std::to_string(j["activations"].size() - 1) + "].value";
  expect_refused(parse_error(j), last_activation, "appears twice");
  j = base();
  j["weights"].push_back(j["weights"][2]);
  expect_refused(parse_error(j), "weights[" + std::to_string(j["weights"].size() - 1) + "].node", "\"/attn/Gemm\" appears twice");
  j = base();
  j["softmax"].push_back(j["softmax"][0]);
  expect_refused(parse_error(j), "softmax[1].node", "appears twice");
}

TEST_F(CalibHostile, NamesAndChannelCountsAreCheckedAgainstTheModel) {
  const struct {
    std::function<void(json&)> edit;
    std::string field, problem;
  } cases[] = {
      {[](json& j) { j["activations"][0]["value"] = "no_such_tensor"; }, "activations[0].value",
       "quantizes tensor 'no_such_tensor', which the model does not have"},
      {[](json& j) { j["weights"][1]["node"] = "/nope"; }, "weights[1].node", "the model has no Conv or Linear node '/nope'"},
      {[](json& j) { j["weights"][1]["node"] = "/attn/Softmax"; }, "weights[1].node", "node '/attn/Softmax' is a Softmax, not a Conv or Linear"},
      {[](json& j) { j["weights"][0]["scale"].erase(0); },
       "weights[0].scale", "has 7 entries, the weight [8,1,7,7] of node '/patch/Conv' (Conv) has 8 output channels"},
      {[](json& j) { j["weights"][5]["scale"].push_back(0.01); },
       "weights[5].scale", "has 11 entries"},
      {[](json& j) { j["weights"][1]["axis"] = 0; }, "weights[1].axis", "0 is not the output-channel axis 1 of a Linear"},
      {[](json& j) { j["softmax"][0]["node"] = "/x"; }, "softmax[0].node", "the model has no Softmax node '/x'"},
      {[](json& j) { j["softmax"][0]["node"] = "/head/Gemm"; }, "softmax[0].node", "is a Linear, not a Softmax"},
      {[](json& j) { j["softmax"][0]["cols"] = 16; }, "softmax[0].cols", "16 is not the row length 17"},
      {[](json& j) {
         for (auto& a : j["activations"])
           if (a["value"] == "image") a["params"] = {{"scheme", "log_sqrt2"}, {"bits", 4}, {"scale", 1.0}, {"zero_point", 0}};
       },
       "activations[9].params.scheme", "the model input needs a uniform grid"},
  };
  for (const auto& c : cases) {
    const json j = edited(c.edit);
    ASSERT_EQ(parse_error(j), "") << c.field;  // the file alone is fine
    expect_refused(lower_error(j), c.field, c.problem);
  }
}

// Reparameterizations (applied to the model before lowering) with factors at the ends of their
// range, wrong lengths and wrong nodes: applied and lowered, or one Error.
TEST_F(CalibHostile, ReparameterizationsApplyOrFailCleanly) {
  auto with_reparam = [](const std::string& ln, std::vector<double> r1, std::vector<double> offset, json consumers) {
    return edited([&](json& j) {
      j["reparams"] = {{{"layernorm", ln}, {"consumers", consumers}, {"r1", r1}, {"offset", offset}}};
    });
  };
  const std::vector<double> ones(8, 1.0), zeros(8, 0.0);
  EXPECT_EQ(lower_error(with_reparam("/ln1/LayerNormalization", ones, zeros, {"/attn/MatMul"})), "");
  for (double r : {1e-30, 1e-6, 1e6, 1e30})
    for (double o : {-1e30, -1.0, 0.0, 1e30}) {
      const std::string error = lower_error(with_reparam("/ln1/LayerNormalization", std::vector<double>(8, r), std::vector<double>(8, o),
                                                         {"/attn/MatMul"}));
      EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    }
  EXPECT_NE(lower_error(with_reparam("/ln1/LayerNormalization", std::vector<double>(7, 1.0), std::vector<double>(7, 0.0), json::array()))
                .find("reparameterization has 7 channels"),
            std::string::npos);
  EXPECT_NE(lower_error(with_reparam("/head/Gemm", ones, zeros, json::array())).find("calibration expects LayerNorm"), std::string::npos);
  EXPECT_NE(lower_error(with_reparam("/ln1/LayerNormalization", ones, zeros, {"/mlp/mlp.0/MatMul", "/attn/Softmax"}))
                .find("calibration expects Linear"),
            std::string::npos);
  EXPECT_NE(lower_error(with_reparam("/nope", ones, zeros, json::array())).find("which this model does not have"), std::string::npos);
  expect_refused(parse_error(with_reparam("/ln1/LayerNormalization", ones, std::vector<double>(7, 0.0), json::array())),
                 "reparams[0].offset", "has 7 entries, r1 8");
}

// Every numeric field of the file set to values at and past its range, lowered with each nonlinear
// family: parse, lower and run either work or stop with one Error (the lowering's own limits:
// requantizers that do not fit, an I-exp constant past int32, ...).
TEST_F(CalibHostile, ExtremeValuesInEveryFieldLowerOrFailCleanly) {
  const double values[] = {0, -1, 1e-30, 1e30, 1e-45, 2147483648.0, 9.2e18, 1e308, 0.5, 3, 65535};
  const json original = base(), flat = original.flatten();
  int lowered = 0, refused = 0, checked = 0;
  for (const auto& [ptr, leaf] : flat.items()) {
    if (!leaf.is_number()) continue;
    // Long per-channel lists: their first two elements stand for the rest.
    const auto slash = ptr.find_last_of('/');
    if (std::isdigit(static_cast<unsigned char>(ptr[slash + 1])) && std::stoul(ptr.substr(slash + 1)) > 1) continue;
    for (size_t k = 0; k < std::size(values) * 3; ++k) {
      json f = original;  // (not unflatten(): it would turn the empty zero_point lists into nulls)
      f[json::json_pointer(ptr)] = values[k / 3];
      const NonlinearFamily family[] = {NonlinearFamily::Int32Safe, NonlinearFamily::Shift, NonlinearFamily::Poly};
      const std::string error = lower_error(f, family[k % 3]);
      (error.empty() ? lowered : refused)++;
      ++checked;
      EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    }
  }
  std::printf("[ extremes ] %d edits: %d lowered and ran, %d refused\n", checked, lowered, refused);
  EXPECT_GT(refused, 0);
  EXPECT_GT(lowered, 0);
}

}  // namespace
}  // namespace qvit
