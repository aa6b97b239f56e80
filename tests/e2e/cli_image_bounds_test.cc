// Hostile images at the command line: decompression bombs (files under 1 KB whose headers declare
// 30000×30000 pixels, tests/golden/image_bombs) are refused from the header by eval and calibrate,
// with one error line, within about a second, under a 2 GB address-space limit (the old behaviour
// was to allocate 2.7 GB and decode for 9 s); and --skip-bad over a folder of unreadable files logs
// a few warnings and one summary, and is an error when nothing at all could be evaluated.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.h"

namespace fs = std::filesystem;

namespace {

using qvit::test::expect_one_clear_error;
using qvit::test::expect_one_error_line;
using qvit::test::kSanitizedBuild;
using qvit::test::run_qvit_limited;
using qvit::test::TimedRun;
using qvit::test::RunResult;
using qvit::test::run_qvit;
using qvit::test::TempDir;

const fs::path kRoot = fs::path(QVIT_SOURCE_DIR);
const fs::path kDeit = kRoot / "models" / "deit_fmnist.onnx";
const fs::path kBombs = fs::path(QVIT_TEST_DIR) / "golden" / "image_bombs";
const fs::path kTshirts = kRoot / "calib" / "fmnist" / "00_tshirt_top";

constexpr long kAddressSpaceKiB = 2'000'000;  // 2 GB: less than one decoded 30000×30000 RGB image

std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  return out;
}

// expect_one_clear_error under the address-space limit, and within about a second (the model is
// loaded too; the image itself is refused in microseconds).
void expect_refused_fast(const std::string& args, const std::string& needle) {
  const TimedRun r = run_qvit_limited(args, kAddressSpaceKiB);
  EXPECT_EQ(r.result.exit_code, 1) << args << "\nstderr: " << r.result.err;
  expect_one_error_line(r.result, args, needle);
  EXPECT_LT(r.seconds, 2.0) << args;
}

class CliImageBounds : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (kSanitizedBuild) GTEST_SKIP() << "AddressSanitizer build: `ulimit -v` cannot be used";
    bomb_ = kBombs / GetParam();
    ASSERT_TRUE(fs::exists(bomb_)) << bomb_;
    ASSERT_LT(fs::file_size(bomb_), 1024u);
  }
  fs::path bomb_;
};

TEST_P(CliImageBounds, EvalRefusesABombFromItsHeader) {
  TempDir t;
  fs::create_directories(t.path() / "data" / "class_a");
  fs::copy_file(bomb_, t.path() / "data" / "class_a" / bomb_.filename());
  const std::string base = "eval " + kDeit.string() + " -q --data " + (t.path() / "data").string();
  expect_refused_fast(base, (t.path() / "data" / "class_a" / bomb_.filename()).string() +
                                ": the header declares 30000×30000 pixels, above the cap of 100 MP");
  // --skip-bad skips a bomb like any unreadable image; with nothing left to evaluate, that is an error.
  expect_refused_fast(base + " --skip-bad", "all 1 image(s) were unreadable and skipped (--skip-bad)");
}

TEST_P(CliImageBounds, CalibrateRefusesABombFromItsHeader) {
  TempDir t;
  fs::create_directories(t.path() / "flat");
  fs::copy_file(bomb_, t.path() / "flat" / bomb_.filename());
  const std::string base = "calibrate " + kDeit.string() + " -q --recipe w8a8 --samples 1 --data " + (t.path() / "flat").string() +
                           " -o " + (t.path() / "c.json").string();
  expect_refused_fast(base, bomb_.filename().string() + ": the header declares 30000×30000 pixels, above the cap");
  expect_refused_fast(base + " --skip-bad", "only 0 readable images, calibration asks for 1");
  EXPECT_FALSE(fs::exists(t.path() / "c.json"));
}

INSTANTIATE_TEST_SUITE_P(Bombs, CliImageBounds, ::testing::Values("bomb_30000x30000.jpg", "bomb_30000x30000.png"),
                         [](const auto& info) { return info.param.substr(info.param.size() - 3); });

// 200 empty files, --skip-bad: a handful of warning lines, then one error that says how many
// were skipped and why (not "top-1 0.00% on 0 images" with exit code 0).
TEST(CliSkipBad, EvalWhereEveryImageIsUnreadableIsAnError) {
  TempDir t;
  for (int i = 0; i < 200; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "data/class_a/%03d.png", i);
    t.write(name, "");
  }
  const std::string args = "eval " + kDeit.string() + " -q --skip-bad --data " + (t.path() / "data").string();
  expect_one_clear_error(args, (t.path() / "data").string() + ": all 200 image(s) were unreadable and skipped (--skip-bad); "
                                   "nothing was evaluated; first: " +
                                   (t.path() / "data" / "class_a" / "000.png").string() + ": empty file");
  const RunResult r = run_qvit(args);
  EXPECT_LT(lines_starting(r.err, "warning: ").size(), 10u) << r.err;
  EXPECT_EQ(lines_starting(r.err, "warning: skipping bad image: ").size(), 3u) << r.err;
}

// Some readable images among many unreadable ones: three individual warnings, one summary, and
// the JSON counts them and names the first few.
TEST(CliSkipBad, EvalLogsTheFirstSkipsAndOneSummary) {
  if (!fs::is_directory(kTshirts)) GTEST_SKIP() << "calib/fmnist not present";
  TempDir t;
  for (int i = 0; i < 20; ++i) t.write("data/class_a/000_empty_" + std::to_string(100 + i) + ".png", "");
  int copied = 0;
  for (const auto& e : fs::directory_iterator(kTshirts))
    if (copied < 2) fs::copy_file(e.path(), t.path() / "data" / "class_a" / e.path().filename()), ++copied;
  const fs::path json = t.path() / "r.json";
  const RunResult r =
      run_qvit("eval " + kDeit.string() + " -q --skip-bad --data " + (t.path() / "data").string() + " --json " + json.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_starting(r.err, "warning: skipping bad image: ").size(), 3u) << r.err;
  const auto summary = lines_starting(r.err, "warning: skipped ");
  ASSERT_EQ(summary.size(), 1u) << r.err;
  const std::string first = (t.path() / "data" / "class_a" / "000_empty_100.png").string();
  EXPECT_EQ(summary[0].rfind("warning: skipped 20 unreadable image(s) of 22; first: " + first + ": empty file; then ", 0), 0u)
      << summary[0];
  EXPECT_NE(summary[0].find(" and 17 more"), std::string::npos) << summary[0];
  std::ifstream f(json);
  const auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["skipped"], 20);
  EXPECT_EQ(j["samples"], 2);
  ASSERT_EQ(j["skipped_examples"].size(), 5u) << j.dump();
  EXPECT_EQ(j["skipped_examples"][0], first);
}

// calibrate --skip-bad: the same cap on individual lines, one summary, and the calibration done
// from the readable images that follow.
TEST(CliSkipBad, CalibrateLogsTheFirstSkipsAndOneSummary) {
  if (!fs::is_directory(kTshirts)) GTEST_SKIP() << "calib/fmnist not present";
  TempDir t;
  for (int i = 0; i < 20; ++i) t.write("flat/000_empty_" + std::to_string(100 + i) + ".png", "");
  int copied = 0;
  for (const auto& e : fs::directory_iterator(kTshirts))
    if (copied < 8) fs::copy_file(e.path(), t.path() / "flat" / e.path().filename()), ++copied;
  const std::string base = "calibrate " + kDeit.string() + " -q --recipe w8a8 --skip-bad --data " + (t.path() / "flat").string();
  const RunResult r = run_qvit(base + " --samples 8 -o " + (t.path() / "c.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_starting(r.err, "warning: skipped: ").size(), 3u) << r.err;
  const auto summary = lines_starting(r.err, "warning: skipped 20 unreadable image(s) of 28; first: ");
  ASSERT_EQ(summary.size(), 1u) << r.err;
  EXPECT_NE(summary[0].find("000_empty_100.png: empty file; then "), std::string::npos) << summary[0];
  EXPECT_TRUE(fs::exists(t.path() / "c.json"));
  // Too few readable images is still an error, after the same summary.
  expect_one_clear_error(base + " --samples 9 -o " + (t.path() / "d.json").string(),
                         "only 8 readable images, calibration asks for 9");
}

}  // namespace
