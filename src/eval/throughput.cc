#include "eval/throughput.h"

#include <chrono>
#include <fstream>
#include <random>
#include <string>

#include "kernels/kernel_path.h"
#include "util/thread_pool.h"

namespace qvit {

namespace {
double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

nlohmann::json ThroughputResult::to_json() const {
  return {{"mode", mode},       {"batch", batch},     {"images_per_second", images_per_second()},
          {"runs", runs},       {"seconds", seconds}, {"warmup_seconds", warmup_seconds},
          {"threads", threads}, {"kernels", kernels}, {"peak_rss_mb", peak_rss_mb}};
}

ThroughputResult measure_throughput(const std::function<void(const Tensor&)>& forward, const Shape& input_shape,
                                    double seconds) {
  // Images roughly like normalized photos: values in [-2, 2] (what the integer boundary quantizes
  // is then the same range calibration saw for real images).
  Tensor images(DType::Float32, input_shape);
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (int64_t i = 0; i < images.numel(); ++i) images.data<float>()[i] = u(rng);
  ThroughputResult r;
  r.batch = input_shape.empty() ? 1 : input_shape[0];
  r.threads = num_threads();
  r.kernels = kernels::kernel_path_name(kernels::active_kernel_path());
  auto t0 = std::chrono::steady_clock::now();
  forward(images);
  r.warmup_seconds = since(t0);
  t0 = std::chrono::steady_clock::now();
  while (r.runs < 3 || since(t0) < seconds) {
    forward(images);
    ++r.runs;
  }
  r.seconds = since(t0);
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:   12345 kB"
  return 0.0;
}

}  // namespace qvit
