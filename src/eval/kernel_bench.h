#pragma once
// `qvit bench --kernels-only`: each integer nonlinear kernel (on the active kernel path) against
// the float kernel the float engine runs for the same op, at the MLSys'23 shapes (softmax
// 12×197×197, GELU 197×3072, LayerNorm 197×768; batch 1 and 16). Both sides as a model runs them:
// output allocated per call, rows spread over the thread pool; inputs at realistic scales.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qvit {

struct KernelTiming {
  std::string kernel;  // integer kernel name (int32safe_softmax, shiftmax, ...)
  std::string float_kernel;
  std::string shape;
  int64_t batch = 1;
  double integer_ms = 0, float_ms = 0;  // per call, median of the timed repetitions
};

// Each pair timed for about `seconds` per side.
std::vector<KernelTiming> bench_kernels(double seconds);
nlohmann::json kernel_timings_json(const std::vector<KernelTiming>& t);

}  // namespace qvit
