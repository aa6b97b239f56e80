#pragma once
// Images per second of a model's forward pass alone (`qvit bench`): one batch of random images in
// the model's input shape, one warm-up run, then runs until `seconds` have passed (at least 3),
// wall clock. No data loading, no preprocessing, no accuracy bookkeeping.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "ir/tensor.h"

namespace qvit {

struct ThroughputResult {
  std::string mode;     // float, fake_quant, integer, integer_onnx
  int64_t batch = 0;
  int64_t runs = 0;     // timed runs after the warm-up
  double seconds = 0;   // of the timed runs
  double warmup_seconds = 0;
  double images_per_second() const { return seconds > 0 ? static_cast<double>(runs * batch) / seconds : 0.0; }
  int threads = 0;
  std::string kernels;  // the integer kernel path (kernels/kernel_path.h)
  double peak_rss_mb = 0;  // of the whole process so far (model loading included)
  nlohmann::json to_json() const;
};

// `forward` runs one batch [batch, ...] of `input_shape` (input_shape[0] is the batch).
ThroughputResult measure_throughput(const std::function<void(const Tensor&)>& forward, const Shape& input_shape,
                                    double seconds);

// Peak resident set size of this process (VmHWM), in MiB; 0 where the OS does not tell.
double peak_rss_mb();

}  // namespace qvit
