#pragma once
// Runs the qvit binary from end-to-end tests: exit code and stderr, the "one clear error line"
// check, and a temporary folder.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace qvit::test {

namespace fs = std::filesystem;

// The small broken (and a few valid) models of tools/make_malformed_models.py.
inline const fs::path kMalformed = fs::path(QVIT_TEST_DIR) / "golden" / "malformed";


struct RunResult {
  int exit_code = -1;
  std::string err;
};

// Runs `<shell_prefix> qvit <args>` in a subshell, e.g. with the prefix "ulimit -v 2000000; exec".
inline RunResult run_qvit_in_shell(const std::string& shell_prefix, const std::string& args) {
  // Unique per process and call: ctest runs test processes in parallel.
  static int calls = 0;
  const fs::path err_file =
      fs::temp_directory_path() / ("qvit_cli_err_" + std::to_string(::getpid()) + "_" + std::to_string(calls++) + ".txt");
  const std::string cmd = "(" + shell_prefix + " " + std::string(QVIT_BINARY) + " " + args + ") >/dev/null 2>" + err_file.string();
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

inline RunResult run_qvit(const std::string& args) { return run_qvit_in_shell("", args); }

// AddressSanitizer reserves terabytes of shadow memory at start-up, so a binary built with it
// cannot run under `ulimit -v` at all; the test binary is built with the same flags as qvit.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizedBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif
#else
inline constexpr bool kSanitizedBuild = false;
#endif

struct TimedRun {
  RunResult result;
  double seconds = 0;
};

// run_qvit under `ulimit -v` (KiB; 2 GB by default), timed.
inline TimedRun run_qvit_limited(const std::string& args, long vmem_kib = 2'000'000) {
  const auto t0 = std::chrono::steady_clock::now();
  TimedRun r;
  r.result = run_qvit_in_shell("ulimit -v " + std::to_string(vmem_kib) + "; exec", args);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

// Besides info/warning log lines, exactly one stderr line: "error: …" containing `needle`.
inline void expect_one_error_line(const RunResult& r, const std::string& args, const std::string& needle) {
  std::istringstream lines(r.err);
  std::vector<std::string> other;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("info: ", 0) != 0 && line.rfind("warning: ", 0) != 0) other.push_back(line);
  ASSERT_EQ(other.size(), 1u) << args << "\nstderr: " << r.err;
  EXPECT_EQ(other[0].rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(other[0].find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
}

// Exit code 1 (2 would be an internal error, ≥ 128 a crash) and, besides info/warning log lines,
// exactly one stderr line: "error: …" containing `needle`.
inline void expect_one_clear_error(const std::string& args, const std::string& needle) {
  const RunResult r = run_qvit(args);
  EXPECT_EQ(r.exit_code, 1) << args << "\nstderr: " << r.err;
  expect_one_error_line(r, args, needle);
}

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

}  // namespace qvit::test
