#pragma once
// What the integer kernel benchmarks (int_softmax_bench.cc, int_eltwise_bench.cc) share: random
// codes, and one registered benchmark per (kernel, path, threads) reporting ms per call.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernel_path.h"
#include "util/thread_pool.h"

namespace qvit::kernels::bench {

inline std::vector<int32_t> random_codes(int64_t count, int32_t lo, int32_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int32_t> v(static_cast<size_t>(count));
  for (auto& x : v) x = d(rng);
  return v;
}

// Sets the path and thread count for one benchmark, and reports elements/s.
class Setup {
 public:
  Setup(benchmark::State& state, KernelPath path, int threads, int64_t elements)
      : state_(state), path_(path), elements_(elements) {
    set_num_threads(threads);
  }
  ~Setup() { state_.SetItemsProcessed(state_.iterations() * elements_); }

 private:
  benchmark::State& state_;
  ScopedKernelPath path_;
  int64_t elements_;
};

inline void register_call(const std::string& name, KernelPath path, int threads, int64_t elements,
                          const std::function<void()>& call) {
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    Setup setup(state, path, threads, elements);
    for (auto _ : state) call();
  })->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace qvit::kernels::bench
