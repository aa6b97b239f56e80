#pragma once
// A progress bar on stderr for long loops: redrawn in place on a terminal, a log line every ~10%
// otherwise (CI logs), silent when disabled (--json to stdout, tests).
#include <chrono>
#include <cstdint>
#include <string>

namespace qvit {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  ~ProgressBar();
  // Sets the count done so far; `extra` is appended (e.g. "412 img/s").
  void update(int64_t done, const std::string& extra = "");
  void finish();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_, tty_, finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace qvit
