// qvit_int_eltwise_bench: the integer elementwise kernels (kernels/eltwise_kernels.h) per kernel
// path at the MLSys'23 kernel shapes, ms per call, next to the float executor's GELU and
// LayerNorm (ir/ops/fast_math.h, threaded as ir/ops/nn.cc does).
//
//   shiftgelu/<path>/batch:<b>/threads:<t>       197·b × 3072, 8-bit input codes (I-ViT)
//   int32safe_gelu/<path>/batch:<b>/threads:<t>  197·b × 3072, 9-bit input codes (MLSys'23)
//   ilayernorm/<path>/batch:<b>/threads:<t>      197·b × 768, 8-bit input codes, lowered params
//   requantize/<path>/threads:<t>                197·8 × 1536 int32 accumulators to 8 bits
//   add/<path>/threads:<t>                       197·8 × 384 residual add
//   float_gelu|float_layernorm/batch:<b>/threads:<t>
// b = 1 and 16. The ref path runs at one thread only (it is unthreaded); wall-clock time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ir/ops/fast_math.h"
#include "kernels/dyadic.h"
#include "kernels/eltwise_kernels.h"
#include "kernels/kernel_params.h"
#include "int_kernel_bench_util.h"
#include "kernels/kernel_path.h"
#include "util/thread_pool.h"

namespace qvit::kernels {
namespace {

constexpr int64_t kTokens = 197;
constexpr int32_t kMlpHidden = 3072, kWidth = 768, kRequantChannels = 1536, kAddWidth = 384;


std::vector<float> random_floats(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& x : v) x = d(rng);
  return v;
}

ref::ILayerNormParams lowered_layernorm(int32_t channels) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g(1.0f, 0.3f), b(0.0f, 0.5f);
  std::vector<float> gamma(channels), beta(channels);
  for (int32_t c = 0; c < channels; ++c) {
    gamma[c] = g(rng);
    beta[c] = b(rng);
  }
  return make_ilayernorm_params(gamma, beta, 1e-6, 8.0 / 128, 8, 0.04, ref::centered_range(8, 128), 15);
}

void register_all() {
  // Inputs and outputs outlive the benchmarks (registration only records the lambdas).
  static std::vector<int32_t> gelu_in8, gelu_in9, gelu_out, norm_in, norm_out, acc, requant_out, add_a, add_b, add_out;
  static std::vector<float> float_in, float_out;
  const int64_t max_gelu = kTokens * 16 * kMlpHidden, max_norm = kTokens * 16 * kWidth;
  gelu_in8 = bench::random_codes(max_gelu, -128, 127, 1);
  gelu_in9 = bench::random_codes(max_gelu, -511, 511, 2);
  gelu_out.resize(max_gelu);
  norm_in = bench::random_codes(max_norm, -128, 127, 3);
  norm_out.resize(max_norm);
  acc = bench::random_codes(kTokens * 8 * kRequantChannels, -(1 << 20), 1 << 20, 4);
  requant_out.resize(acc.size());
  add_a = bench::random_codes(kTokens * 8 * kAddWidth, -128, 127, 5);
  add_b = bench::random_codes(add_a.size(), -128, 127, 6);
  add_out.resize(add_a.size());
  float_in = random_floats(max_gelu, 7);
  float_out.resize(max_gelu);

  static const ref::ShiftGeluParams shiftgelu_p = make_shiftgelu_params(8.0 / 128, 8);
  static const ref::IBertGeluParams safe_gelu_p = make_int32safe_gelu_params(8.0 / 512);
  static const ref::ILayerNormParams norm_p = lowered_layernorm(kWidth);
  static const Requant requant_p = make_requant(1.0 / 6000, 1 << 20);
  static const ref::AddParams add_p{make_requant(0.8 * 256, 1 << 8), make_requant(1.3 * 256, 1 << 8), 8,
                                    ref::centered_range(8, 128)};
  static const std::vector<float> gamma(kWidth, 1.1f), beta(kWidth, 0.1f);

  for (KernelPath path : supported_kernel_paths()) {
    const std::string p = kernel_path_name(path);
    for (int threads : {1, 2}) {
      if (path == KernelPath::Ref && threads > 1) continue;
      const std::string t = "/threads:" + std::to_string(threads);
      for (int64_t batch : {1, 16}) {
        const std::string b = "/batch:" + std::to_string(batch);
        const int32_t gelu_n = static_cast<int32_t>(kTokens * batch * kMlpHidden);
        const int32_t norm_rows = static_cast<int32_t>(kTokens * batch);
        bench::register_call("shiftgelu/" + p + b + t, path, threads, gelu_n,
                     [=] { kernels::shiftgelu(gelu_in8.data(), gelu_out.data(), gelu_n, shiftgelu_p, nullptr); });
        bench::register_call("int32safe_gelu/" + p + b + t, path, threads, gelu_n,
                     [=] { kernels::ibert_gelu(gelu_in9.data(), gelu_out.data(), gelu_n, safe_gelu_p, nullptr); });
        bench::register_call("ilayernorm/" + p + b + t, path, threads, int64_t{norm_rows} * kWidth,
                     [=] { kernels::ilayernorm(norm_in.data(), norm_out.data(), norm_rows, norm_p, nullptr); });
      }
      const int32_t acc_n = static_cast<int32_t>(acc.size()), add_n = static_cast<int32_t>(add_a.size());
      bench::register_call("requantize/" + p + t, path, threads, acc_n, [=] {
        kernels::requantize(acc.data(), requant_out.data(), acc_n, requant_p, ref::centered_range(8, 128), nullptr);
      });
      bench::register_call("add/" + p + t, path, threads, add_n, [=] {
        kernels::add(add_a.data(), add_n, add_b.data(), add_n, add_out.data(), add_p, nullptr);
      });
    }
  }

  // The float executor's loops (ir/ops/nn.cc: GELU in chunks of 4096, LayerNorm by rows).
  for (int threads : {1, 2}) {
    const std::string t = "/threads:" + std::to_string(threads);
    for (int64_t batch : {1, 16}) {
      const std::string b = "/batch:" + std::to_string(batch);
      const int64_t gelu_n = kTokens * batch * kMlpHidden, rows = kTokens * batch;
      bench::register_call("float_gelu" + b + t, KernelPath::Ref, threads, gelu_n, [=] {
        constexpr int64_t chunk = 4096;
        parallel_for((gelu_n + chunk - 1) / chunk, 4, [&](int64_t k0, int64_t k1) {
          for (int64_t k = k0; k < k1; ++k)
            gelu_f32(float_in.data() + k * chunk, float_out.data() + k * chunk, std::min(chunk, gelu_n - k * chunk));
        });
      });
      bench::register_call("float_layernorm" + b + t, KernelPath::Ref, threads, rows * kWidth, [=] {
        parallel_for(rows, std::max<int64_t>(1, (1 << 13) / kWidth), [&](int64_t r0, int64_t r1) {
          float mean = 0, inv_std = 0;
          for (int64_t r = r0; r < r1; ++r)
            layernorm_row_f32(float_in.data() + r * kWidth, float_out.data() + r * kWidth, kWidth, gamma.data(),
                              beta.data(), 1e-6f, &mean, &inv_std);
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
