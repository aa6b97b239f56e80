#include "util/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <spdlog/spdlog.h>

namespace qvit {

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), enabled_(enabled), tty_(::isatty(2) != 0) {}

ProgressBar::~ProgressBar() {
  if (tty_ && enabled_ && !finished_ && last_decile_ >= 0) std::fputc('\n', stderr);
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  if (!enabled_) return;
  const double frac = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
  if (tty_) {
    const auto now = std::chrono::steady_clock::now();
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    constexpr int kWidth = 30;
    const int fill = static_cast<int>(frac * kWidth);
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld %s\x1b[K", label_.c_str(), std::string(fill, '#').c_str(),
                 std::string(kWidth - fill, ' ').c_str(), static_cast<long long>(done), static_cast<long long>(total_),
                 extra.c_str());
    std::fflush(stderr);
    last_decile_ = 0;
  } else {
    const int decile = static_cast<int>(frac * 10);
    if (decile > last_decile_) {
      last_decile_ = decile;
      spdlog::info("{}: {}/{} {}", label_, done, total_, extra);
    }
  }
}

void ProgressBar::finish() {
  if (enabled_ && tty_ && !finished_ && last_decile_ >= 0) std::fputc('\n', stderr);
  finished_ = true;
}

}  // namespace qvit
