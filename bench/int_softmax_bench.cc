// qvit_int_softmax_bench: the integer softmax kernels (kernels/softmax_kernels.h) per kernel path
// at the MLSys'23 attention shape, ms per call, next to the float executor's softmax
// (ir/ops/fast_math.h softmax_row_f32, threaded as ir/ops/nn.cc softmax_rows does).
//
//   shiftmax/<path>/batch:<b>/threads:<t>        12·197·b rows × 197, S = 1/64, 8-bit output (I-ViT)
//   ibert_softmax/<path>/batch:<b>/threads:<t>   same logits, 8-bit output (I-BERT)
//   int32safe_softmax/<path>/batch:<b>/threads:<t>  the logits requantized for M* = 16 (MLSys'23)
//   float_softmax/batch:<b>/threads:<t>
// b = 1 and 16. The ref path runs at one thread only (it is unthreaded); wall-clock time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ir/ops/fast_math.h"
#include "kernels/kernel_params.h"
#include "int_kernel_bench_util.h"
#include "kernels/kernel_path.h"
#include "kernels/softmax_kernels.h"
#include "util/thread_pool.h"

namespace qvit::kernels {
namespace {

constexpr int32_t kTokens = 197, kHeads = 12;
constexpr double kLogitScale = 1.0 / 64;  // logits in [-8, 2) as 8-bit-ish codes of a calibrated attention

// Attention logits: row max spread over [-2, 2), the rest up to 8 below it (typical ViT rows).
std::vector<int32_t> attention_logits(int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> top(-128, 127), below(0, 512);
  std::vector<int32_t> v(rows * kTokens);
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t max = top(rng);
    for (int32_t j = 0; j < kTokens; ++j) v[r * kTokens + j] = max - below(rng);
  }
  return v;
}

void register_all() {
  // Inputs and outputs outlive the benchmarks (registration only records the lambdas).
  static std::vector<int32_t> logits, logits_m16, out;
  static std::vector<float> float_in, float_out;
  const int64_t max_rows = int64_t{kHeads} * kTokens * 16;
  logits = attention_logits(max_rows, 1);
  static const double s16 = int32safe_softmax_min_input_scale(16);
  logits_m16.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) logits_m16[i] = static_cast<int32_t>(logits[i] * kLogitScale / s16);
  out.resize(logits.size());
  float_in.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) float_in[i] = static_cast<float>(logits[i] * kLogitScale);
  float_out.resize(logits.size());

  static const ref::ShiftmaxParams shiftmax_p = make_shiftmax_params(kLogitScale, 15, {ref::ProbFormat::kUniform, 8});
  static const ref::IBertSoftmaxParams ibert_p = make_ibert_softmax_params(kLogitScale, {ref::ProbFormat::kUniform, 8});
  static const ref::Int32SafeSoftmaxParams safe_p = make_int32safe_softmax_params(s16, 16);

  for (KernelPath path : supported_kernel_paths()) {
    const std::string p = kernel_path_name(path);
    for (int threads : {1, 2}) {
      if (path == KernelPath::Ref && threads > 1) continue;
      const std::string t = "/threads:" + std::to_string(threads);
      for (int64_t batch : {1, 16}) {
        const std::string b = "/batch:" + std::to_string(batch);
        const int32_t rows = static_cast<int32_t>(kHeads * kTokens * batch);
        const int64_t n = int64_t{rows} * kTokens;
        bench::register_call("shiftmax/" + p + b + t, path, threads, n,
                      [=] { kernels::shiftmax(logits.data(), out.data(), rows, kTokens, shiftmax_p, nullptr); });
        bench::register_call("ibert_softmax/" + p + b + t, path, threads, n,
                      [=] { kernels::ibert_softmax(logits.data(), out.data(), rows, kTokens, ibert_p, nullptr); });
        bench::register_call("int32safe_softmax/" + p + b + t, path, threads, n, [=] {
          kernels::int32safe_softmax(logits_m16.data(), out.data(), rows, kTokens, safe_p, nullptr);
        });
      }
    }
  }

  // The float executor's loop (ir/ops/nn.cc softmax_rows: rows in chunks of ~8K elements).
  for (int threads : {1, 2}) {
    const std::string t = "/threads:" + std::to_string(threads);
    for (int64_t batch : {1, 16}) {
      const std::string b = "/batch:" + std::to_string(batch);
      const int64_t rows = int64_t{kHeads} * kTokens * batch;
      bench::register_call("float_softmax" + b + t, KernelPath::Ref, threads, rows * kTokens, [=] {
        parallel_for(rows, std::max<int64_t>(1, (1 << 13) / kTokens), [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r)
            softmax_row_f32(float_in.data() + r * kTokens, float_out.data() + r * kTokens, kTokens);
        });
      });
    }
  }
}

}  // namespace
}  // namespace qvit::kernels

int main(int argc, char** argv) {
  qvit::kernels::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
