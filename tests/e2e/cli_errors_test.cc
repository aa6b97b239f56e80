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

namespace {

struct RunResult {
  int exit_code = -1;
  std::string err;
};

RunResult run_qvit(const std::string& args) {
  const fs::path err_file = fs::temp_directory_path() / ("qvit_cli_err_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".txt");
  const std::string cmd = std::string(QVIT_BINARY) + " " + args + " >/dev/null 2>" + err_file.string();
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream f(err_file);
  std::stringstream ss;
  ss << f.rdbuf();
  r.err = ss.str();
  fs::remove(err_file);
  return r;
}

// Exit code 1 (2 would be an internal error, ≥ 128 a crash) and, besides info/warning log lines,
// exactly one stderr line: "error: …" containing `needle`.
void expect_one_clear_error(const std::string& args, const std::string& needle) {
  const RunResult r = run_qvit(args);
  EXPECT_EQ(r.exit_code, 1) << args << "\nstderr: " << r.err;
  std::istringstream lines(r.err);
  std::vector<std::string> other;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("info: ", 0) != 0 && line.rfind("warning: ", 0) != 0) other.push_back(line);
  ASSERT_EQ(other.size(), 1u) << args << "\nstderr: " << r.err;
  EXPECT_EQ(other[0].rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(other[0].find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
}

const fs::path kMalformed = fs::path(QVIT_TEST_DIR) / "golden" / "malformed";

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("qvit_cli_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& rel, const std::string& content) const {
    const fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

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
