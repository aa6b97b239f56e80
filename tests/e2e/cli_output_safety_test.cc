// Hostile output targets on the command line: an `-o` (or `--output`, `--json`) that is a
// symlink, a FIFO or a device is refused with one clear error line (exit 1), before the long work
// where the command checks its output first, and the symlink / FIFO / device is left as it was.
// Nothing ever opens the FIFO (that would hang the test): qvit only lstats it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_runner.h"
#include "ir/tensor.h"
#include "util/npy.h"

namespace fs = std::filesystem;

namespace {

using qvit::test::expect_one_clear_error;
using qvit::test::run_qvit;
using qvit::test::TempDir;

const fs::path kDeit = fs::path(QVIT_SOURCE_DIR) / "models" / "deit_fmnist.onnx";

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The hostile targets of one test, in its own folder.
struct Targets {
  TempDir dir;
  fs::path real, link, dangling, fifo, device;

  Targets() {
    real = dir.write("real.json", "keep me");
    link = dir.path() / "link.json";
    fs::create_symlink(real, link);
    dangling = dir.path() / "dangling.json";
    fs::create_symlink(dir.path() / "nowhere.json", dangling);
    fifo = dir.path() / "fifo.json";
    EXPECT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    // A character device of our own (a /dev/null twin) where we may create one (root); otherwise
    // /dev/null itself, which a non-root process could not replace even by mistake.
    const fs::path own = dir.path() / "null_twin";
    if (::mknod(own.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) device = own;
    else if (::geteuid() != 0) device = "/dev/null";
  }

  // Each hostile target with the words its refusal must contain.
  std::vector<std::pair<fs::path, std::string>> cases() const {
    std::vector<std::pair<fs::path, std::string>> c = {
        {link, "refusing to write: it is a symbolic link (to " + real.string() + "); pass the real path"},
        {dangling, "refusing to write: it is a symbolic link (to " + (dir.path() / "nowhere.json").string() + ")"},
        {fifo, "refusing to write: it is a FIFO, not a regular file"}};
    if (!device.empty()) c.emplace_back(device, "refusing to write: it is a character device, not a regular file");
    return c;
  }

  // Nothing was replaced, followed, created or left behind.
  void expect_untouched() const {
    EXPECT_TRUE(fs::is_symlink(link));
    EXPECT_EQ(fs::read_symlink(link), real);
    EXPECT_EQ(read_all(real), "keep me");
    EXPECT_TRUE(fs::is_symlink(dangling));
    EXPECT_FALSE(fs::exists(dir.path() / "nowhere.json"));
    EXPECT_TRUE(fs::is_fifo(fifo));
    if (!device.empty()) {
      EXPECT_TRUE(fs::is_character_file(device)) << device;
    }
    EXPECT_TRUE(fs::is_character_file("/dev/null"));
    for (const auto& e : fs::directory_iterator(dir.path()))
      EXPECT_EQ(e.path().filename().string().find(".qvit-tmp."), std::string::npos) << e.path();
  }
};

// `args` refused with `needle`, fast: the inputs named in `args` do not even exist, so an output
// check that came after loading them would fail with another message.
void expect_refused_before_work(const std::string& args, const std::string& needle) {
  const auto t0 = std::chrono::steady_clock::now();
  expect_one_clear_error(args, needle);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 10.0) << args;
}

TEST(CliOutputSafety, CalibrateRefusesHostileOutputBeforeWork) {
  Targets t;
  for (const auto& [target, needle] : t.cases())
    expect_refused_before_work("calibrate " + kDeit.string() + " -q --recipe w8a8 --data /nonexistent/calib -o " +
                                   target.string(),
                               needle);
  // /dev/null itself: nothing can be written here whatever happens, since the data does not exist.
  expect_refused_before_work("calibrate " + kDeit.string() + " -q --recipe w8a8 --data /nonexistent/calib -o /dev/null",
                             "/dev/null: refusing to write: it is a character device");
  t.expect_untouched();
}

TEST(CliOutputSafety, ExportRefusesHostileOutputBeforeWork) {
  Targets t;
  for (const std::string format : {"int", "qdq"}) {
    for (const auto& [target, needle] : t.cases())
      expect_refused_before_work("export " + kDeit.string() + " --calib /nonexistent/c.json --format " + format + " -o " +
                                     target.string(),
                                 needle);
    expect_refused_before_work("export " + kDeit.string() + " --calib /nonexistent/c.json --format " + format + " -o /dev/null",
                               "it is a character device");
  }
  t.expect_untouched();
}

TEST(CliOutputSafety, EvalRefusesHostileJsonBeforeWork) {
  Targets t;
  for (const auto& [target, needle] : t.cases())
    expect_refused_before_work("eval " + kDeit.string() + " -q --data /nonexistent/data --json " + target.string(), needle);
  t.expect_untouched();
}

// `run` writes its output after the (short) forward pass; the refusal comes from the write itself.
TEST(CliOutputSafety, RunRefusesHostileOutput) {
  Targets t;
  const fs::path x = t.dir.path() / "x.npy";
  qvit::write_npy(x.string(), qvit::Tensor(qvit::DType::Float32, {2, 1, 28, 28}));
  const std::string base = "run " + kDeit.string() + " --input " + x.string() + " --output ";
  for (const auto& [target, needle] : t.cases()) expect_one_clear_error(base + target.string(), needle);
  t.expect_untouched();
  // A regular output, new and then replaced, still works.
  const fs::path y = t.dir.path() / "y.npy";
  for (int i = 0; i < 2; ++i) {
    const auto r = run_qvit(base + y.string());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(qvit::read_npy(y.string()).shape(), (qvit::Shape{2, 10}));
  }
  t.expect_untouched();
}

// The same commands with regular targets (new, and an existing file replaced) still work.
TEST(CliOutputSafety, RegularOutputsStillWork) {
  if (!fs::is_directory(fs::path(QVIT_SOURCE_DIR) / "calib" / "fmnist")) GTEST_SKIP() << "calib/fmnist not present";
  Targets t;
  const std::string d = t.dir.path().string() + "/";
  for (int i = 0; i < 2; ++i) {
    const auto c = run_qvit("calibrate " + kDeit.string() + " -q --recipe w8a8 --samples 8 --batch 8 -o " + d + "c.json");
    ASSERT_EQ(c.exit_code, 0) << c.err;
  }
  EXPECT_TRUE(fs::is_regular_file(d + "c.json"));
  // The real path behind a refused symlink is accepted.
  const auto e = run_qvit("export " + kDeit.string() + " --calib " + d + "c.json -o " + t.real.string());
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_GT(fs::file_size(t.real), 1000u);
  EXPECT_TRUE(fs::is_symlink(t.link));
  const auto q = run_qvit("export " + kDeit.string() + " --calib " + d + "c.json --format qdq -o " + d + "m.qdq.onnx");
  ASSERT_EQ(q.exit_code, 0) << q.err;
  for (const auto& entry : fs::directory_iterator(t.dir.path()))
    EXPECT_EQ(entry.path().filename().string().find(".qvit-tmp."), std::string::npos) << entry.path();
}

}  // namespace
