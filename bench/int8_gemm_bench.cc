// qvit_int8_gemm_bench: the u8×s8→s32 GEMM (kernels/gemm_u8s8.h) per kernel path at the DeiT-S
// linear-layer shapes, as GOP/s (2·m·n·k per call) and as a share of this machine's measured
// AVX-512 VNNI peak.
//
//   gemm/<path>/<layer>/m:<rows>/bits:<b>/threads:<t>   m = 197·8 (batch 8) and 197 (batch 1);
//       layers (k×n) qkv 384×1152, proj 384×384, fc1 384×1536, fc2 1536×384. B is packed once
//       (weights); A random uint8, B random int8 (bits 8: the avx2 path's exact variant) or int4.
//       Counters: GOPs (G ops/s), pct_peak (% of vnni_peak at the same thread count).
//   pack/<path>/{k_t,v}   per-call packing of one head's Kᵀ (64×197, transposed read) or V (197×64).
//   vnni_peak/threads:<t>   a register-only loop of independent vpdpbusd zmm on t threads: the
//       ceiling of any int8 GEMM here (64 u8·s8 multiply-adds = 128 ops per instruction).
// The reference path runs single-threaded on batch 1 only (it is the scalar definition).
// Real (wall-clock) time drives everything (the GEMM is multi-threaded); the cpu column is the
// whole process's CPU time, and vnni_peak's GOPs_cpu the peak per CPU-second actually received:
// on a loaded machine, ops / cpu time compares kernels with the peak where wall time cannot.
#include <benchmark/benchmark.h>

#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm_u8s8.h"
#include "kernels/kernel_path.h"
#include "util/thread_pool.h"

namespace qvit::kernels {
namespace {

constexpr int64_t kTokens = 197;
constexpr int kPeakChains = 24;  // independent accumulators: covers latency × throughput

// `iters` rounds of 24 independent vpdpbusd zmm (register-only); asm so nothing is optimized away
// and the loop is exactly the instructions measured. Only called when the CPU has AVX-512 VNNI.
__attribute__((target("avx512f"))) void vnni_peak_loop(int64_t iters) {
  asm volatile(
      "vpternlogd $0xff, %%zmm30, %%zmm30, %%zmm30\n\t"
      "vpternlogd $0xff, %%zmm31, %%zmm31, %%zmm31\n\t"
      "1:\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm0\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm1\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm2\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm3\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm4\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm5\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm6\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm7\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm8\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm9\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm10\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm11\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm12\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm13\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm14\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm15\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm16\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm17\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm18\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm19\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm20\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm21\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm22\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm23\n\t"
      "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper"
      : "+r"(iters)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm30",
        "xmm31", "cc");
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct PeakRun {
  double wall_ops_per_s;  // all threads' ops / wall time
  double cpu_ops_per_s;   // sum over threads of ops / that thread's CPU time: the peak of idle cores
};

// The peak loop on `threads` threads (each its own std::thread, all at once).
PeakRun run_peak(int threads, int64_t iters) {
  const double ops_per_thread = static_cast<double>(iters) * kPeakChains * 128;
  std::vector<double> cpu(static_cast<size_t>(threads));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([iters, &cpu, t] {
      const double c0 = thread_cpu_seconds();
      vnni_peak_loop(iters);
      cpu[static_cast<size_t>(t)] = thread_cpu_seconds() - c0;
    });
  for (auto& t : pool) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PeakRun run{threads * ops_per_thread / seconds, 0};
  for (double c : cpu) run.cpu_ops_per_s += ops_per_thread / c;
  return run;
}

bool have_vnni512() { return kernel_path_supported(KernelPath::Avx512); }

double measured_peak[3] = {0, 0, 0};  // wall ops/s for 1 and 2 threads, measured before the GEMMs

void bm_vnni_peak(benchmark::State& state, int threads) {
  constexpr int64_t kIters = 2'000'000;
  double cpu_ops_per_s = 0;
  for (auto _ : state) cpu_ops_per_s += run_peak(threads, kIters).cpu_ops_per_s;
  state.counters["GOPs"] = benchmark::Counter(static_cast<double>(threads) * kIters * kPeakChains * 128 * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  // Robust on a shared machine: what the threads reach per second of CPU they actually got.
  state.counters["GOPs_cpu"] = cpu_ops_per_s * 1e-9 / static_cast<double>(state.iterations());
}

struct Layer {
  const char* name;
  int64_t k, n;
};
constexpr Layer kLayers[] = {{"qkv", 384, 1152}, {"proj", 384, 384}, {"fc1", 384, 1536}, {"fc2", 1536, 384}};

void bm_gemm(benchmark::State& state, KernelPath path, Layer layer, int64_t m, int bits, int threads) {
  set_num_threads(threads);
  std::mt19937 rng(42);
  std::vector<uint8_t> a(static_cast<size_t>(m * layer.k));
  std::vector<int8_t> b(static_cast<size_t>(layer.k * layer.n));
  for (auto& v : a) v = static_cast<uint8_t>(rng() % 256);
  for (auto& v : b) v = static_cast<int8_t>(bits == 4 ? static_cast<int>(rng() % 16) - 8 : static_cast<int>(rng() % 256) - 128);
  std::vector<int32_t> col_offset(static_cast<size_t>(layer.n), 1000), c(static_cast<size_t>(m * layer.n));
  const PackedS8 packed = pack_s8(b.data(), layer.n, 1, layer.k, layer.n, path, bits);
  for (auto _ : state) {
    gemm_u8s8(a.data(), layer.k, m, packed, col_offset.data(), nullptr, c.data(), layer.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double ops = 2.0 * static_cast<double>(m) * static_cast<double>(layer.k) * static_cast<double>(layer.n);
  state.counters["GOPs"] = benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (measured_peak[threads] > 0)
    state.counters["pct_peak"] =
        benchmark::Counter(ops * 100 / measured_peak[threads], benchmark::Counter::kIsIterationInvariantRate);
}

// Per-call packing of attention activations for one head (batch 1): Kᵀ (k = 64 head dims, n = 197
// tokens, read transposed from the fused qkv rows) and V (k = 197 tokens, n = 64).
void bm_pack(benchmark::State& state, KernelPath path, bool transposed) {
  constexpr int64_t kHead = 64, kQkvRow = 3 * 384;
  std::vector<int8_t> qkv(static_cast<size_t>(kTokens * kQkvRow));
  std::mt19937 rng(7);
  for (auto& v : qkv) v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
  for (auto _ : state) {
    const PackedS8 p = transposed ? pack_s8(qkv.data(), 1, kQkvRow, kHead, kTokens, path)
                                  : pack_s8(qkv.data(), kQkvRow, 1, kTokens, kHead, path);
    benchmark::DoNotOptimize(p.data.data());
  }
}

void register_all() {
  if (have_vnni512()) {
    for (int threads : {1, 2}) {
      run_peak(threads, 200'000);  // warm up (clocks, thread start)
      const PeakRun peak = run_peak(threads, 5'000'000);
      measured_peak[threads] = peak.wall_ops_per_s;
      std::printf("measured VNNI zmm peak, %d thread(s): %.1f GOP/s (%.1f GOP/s per CPU-second of the threads)\n",
                  threads, peak.wall_ops_per_s * 1e-9, peak.cpu_ops_per_s * 1e-9);
      benchmark::RegisterBenchmark(("vnni_peak/threads:" + std::to_string(threads)).c_str(), bm_vnni_peak, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (KernelPath path : supported_kernel_paths()) {
    for (bool transposed : {true, false})
      benchmark::RegisterBenchmark((std::string("pack/") + kernel_path_name(path) + (transposed ? "/k_t" : "/v")).c_str(),
                                   bm_pack, path, transposed)
          ->Unit(benchmark::kMicrosecond);
    for (int64_t m : {kTokens * 8, kTokens}) {
      for (const Layer& layer : kLayers) {
        for (int bits : {8, 4}) {
          for (int threads : {1, 2}) {
            if (path == KernelPath::Ref && (m != kTokens || bits != 8 || threads != 1)) continue;
            if (bits == 4 && threads != 2) continue;
            const std::string name = std::string("gemm/") + kernel_path_name(path) + "/" + layer.name + "/m:" +
                                     std::to_string(m) + "/bits:" + std::to_string(bits) +
                                     "/threads:" + std::to_string(threads);
            benchmark::RegisterBenchmark(name.c_str(), bm_gemm, path, layer, m, bits, threads)
                ->UseRealTime()
                ->MeasureProcessCPUTime()
                ->Unit(benchmark::kMillisecond);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace qvit::kernels

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  qvit::kernels::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
