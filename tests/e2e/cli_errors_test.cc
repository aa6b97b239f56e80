// Bad input never crashes qvit: each case below must exit non-zero with exactly one error line on
// stderr that names the file (or node/field) at fault.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

#include "cli_runner.h"

namespace {

using qvit::test::expect_one_clear_error;
using qvit::test::kMalformed;
using qvit::test::run_qvit;
using qvit::test::TempDir;


TEST(CliErrors, MalformedModels) {
  const std::array<std::pair<const char*, const char*>, 6> cases = {{
      {"truncated.onnx", "protobuf parse failed"},
      {"not_onnx.onnx", "not a valid ONNX model"},
      {"ir_version_99.onnx", "IR version 99"},
      {"missing_initializer.onnx", "input 'W'"},
      {"unsupported_op.onnx", "NonMaxSuppression"},
      {"custom_domain.onnx", "com.example"},
  }};
  for (const auto& [file, needle] : cases) {
    const std::string path = (kMalformed / file).string();
    expect_one_clear_error("inspect " + path, needle);
    expect_one_clear_error("inspect " + path, file);
  }
  expect_one_clear_error("inspect /nonexistent/model.onnx", "/nonexistent/model.onnx: cannot open");
}

// A config for the tiny valid model's [N,4] input is impossible (it takes no images), so image
// errors are exercised with a 1-channel 28x28 config against an ImageFolder layout.
std::string config_json(const std::string& extra = "") {
  return std::string(R"({"format": "qvit.config/1", "name": "t", "model": "m.onnx",
    "input": {"channels": 1, "height": 28, "width": 28, "layout": "NCHW"},
    "resize": 28, "center_crop": 28, "interpolation": "bilinear", "pixel_scale": 255.0,
    "mean": [0.5], "std": [0.5], "num_classes": 10)") + extra + "}";
}

TEST(CliErrors, BadConfig) {
  TempDir t;
  const fs::path model = kMalformed / "valid.onnx";
  const fs::path bad_json = t.write("bad.json", "{\"format\": \"qvit.config/1\", ");
  expect_one_clear_error("eval " + model.string() + " --config " + bad_json.string() + " --data " + t.path().string(), "bad.json");
  const fs::path typo = t.write("typo.json", config_json(", \"meen\": [0.1]"));
  expect_one_clear_error("eval " + model.string() + " --config " + typo.string() + " --data " + t.path().string(), "meen");
  const fs::path bad_std = t.write("std.json", std::string(config_json()).replace(config_json().find("\"std\": [0.5]"), 12, "\"std\": [0.0]"));
  expect_one_clear_error("eval " + model.string() + " --config " + bad_std.string() + " --data " + t.path().string(), "std");
  expect_one_clear_error("eval " + model.string() + " --config " + (t.path() / "missing.json").string() + " --data x", "missing.json");
}

TEST(CliErrors, BadImages) {
  TempDir t;
  const fs::path cfg = t.write("cfg.json", config_json());
  const fs::path model = kMalformed / "valid.onnx";
  t.write("data/0_a/broken.png", "\x89PNG\r\n\x1a\n this is not really a png");
  expect_one_clear_error("eval " + model.string() + " --config " + cfg.string() + " --data " + (t.path() / "data").string(), "broken.png");
  expect_one_clear_error("eval " + model.string() + " --config " + cfg.string() + " --data " + (t.path() / "nodata").string(), "nodata");
  fs::create_directories(t.path() / "empty");
  expect_one_clear_error("eval " + model.string() + " --config " + cfg.string() + " --data " + (t.path() / "empty").string(), "empty");
  const fs::path list = t.write("list.txt", "missing.png 3\n");
  expect_one_clear_error("eval " + model.string() + " --config " + cfg.string() + " --data " + list.string(), "missing.png");
  const fs::path badlist = t.write("badlist.txt", "a.png notanumber\n");
  expect_one_clear_error("eval " + model.string() + " --config " + cfg.string() + " --data " + badlist.string(), "badlist.txt:1");
}

// libjpeg's own warnings (corrupt data it decodes anyway, as PIL does) are one warning line per
// file naming it, never bare lines on stderr.
TEST(CliErrors, LibjpegWarningsNameTheFileOnce) {
  TempDir t;
  const fs::path cfg = t.write("cfg.json", config_json());
  std::ifstream in(fs::path(QVIT_TEST_DIR) / "golden" / "preprocess" / "images" / "gray_50x70.jpg", std::ios::binary);
  std::string jpeg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(jpeg.size(), 4u);
  // 2 extraneous bytes after the first header segment (SOI, then APPn of length L at bytes 4–5).
  const size_t after_first_segment = 4 + ((static_cast<uint8_t>(jpeg[4]) << 8) | static_cast<uint8_t>(jpeg[5]));
  jpeg.insert(after_first_segment, "\x12\x34");
  t.write("data/0_a/extra.jpg", jpeg);
  const auto r = run_qvit("eval " + (kMalformed / "valid.onnx").string() + " --config " + cfg.string() + " --data " +
                               (t.path() / "data").string());
  // The model itself does not fit 28x28 images (exit 1 after decoding); the decode warned once.
  std::istringstream lines(r.err);
  int warnings = 0, bare = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("warning: ", 0) == 0 && line.find("extra.jpg: libjpeg: Corrupt JPEG data") != std::string::npos) ++warnings;
    if (line.rfind("Corrupt JPEG", 0) == 0) ++bare;
  }
  EXPECT_EQ(warnings, 1) << r.err;
  EXPECT_EQ(bare, 0) << r.err;
}

TEST(CliErrors, ModelDoesNotMatchData) {
  // The tiny model takes [N,4]: images of [1,28,28] must be refused with a clear message, not run.
  TempDir t;
  const fs::path cfg = t.write("cfg.json", config_json());
  const fs::path img_dir = fs::path(QVIT_SOURCE_DIR) / "calib" / "fmnist";
  if (!fs::is_directory(img_dir)) GTEST_SKIP() << "calib/fmnist not present";
  expect_one_clear_error("eval " + (kMalformed / "valid.onnx").string() + " --config " + cfg.string() + " --data " + img_dir.string(),
                         "shape");
}

TEST(CliErrors, BadRunInputs) {
  TempDir t;
  const fs::path model = kMalformed / "valid.onnx";
  expect_one_clear_error("run " + model.string() + " --input " + (t.path() / "nope.npy").string() + " --output " + (t.path() / "y.npy").string(), "nope.npy");
  const fs::path junk = t.write("junk.npy", "not numpy");
  expect_one_clear_error("run " + model.string() + " --input " + junk.string() + " --output " + (t.path() / "y.npy").string(), "junk.npy");
  EXPECT_FALSE(fs::exists(t.path() / "y.npy")) << "no output may be written on failure";
}

}  // namespace
