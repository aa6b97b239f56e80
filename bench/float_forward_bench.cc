// qvit_float_bench: float forward of an ONNX model (the DeiT-S-shape ViT of docs/benchmarks.md)
// through qvit's float IR executor, at several batch sizes, reported as images/s
// (items_per_second). Real (wall-clock) time drives the iteration count and images/s; cpu_time is
// the CPU time of the whole process (all threads). Explicit warmup, a fixed thread count.
//
//   qvit_float_bench --model=PATH [--threads=2] [--batches=1,8] [--min_time=3] [--warmup=2]
//                    [--kernels] [--op_profile[=ITERS]] [benchmark flags...]
//
// --model        ONNX file (else $QVIT_BENCH_MODEL).
// --threads      qvit::set_num_threads (OpenBLAS follows it); else $QVIT_BENCH_THREADS, else 2.
// --batches      batch sizes; the model is imported once per size with ImportOptions{.batch = B}.
// --min_time     seconds of timed iterations per benchmark (Google Benchmark's MinTime).
// --warmup       untimed forwards before the first timed one, per batch size.
// --kernels      also register one benchmark per distinct (op, input shapes) node of the graph,
//                running just that op's kernel on real intermediate values ("BM_kernel/...").
// --op_profile   instead of benchmarking, run ITERS (default 3) forwards per batch size and print
//                where the time goes, per op type and per (op, shapes), then exit.
// Our flags are removed before benchmark::Initialize; all --benchmark_* flags work as usual
// (tools/bench/run_float_bench.sh passes --benchmark_format=json).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench_common.h"
#include "ir/executor.h"
#include "ir/op_registry.h"
#include "onnx/onnx_import.h"
#include "util/error.h"
#include "util/thread_pool.h"

extern "C" {
char* openblas_get_config(void);
char* openblas_get_corename(void);
}

namespace qvit::bench {
namespace {

struct Config {
  std::string model;
  int threads = 2;
  std::vector<int64_t> batches{1, 8};
  double min_time = 3.0;
  int warmup = 2;
  bool kernels = false;
  int op_profile_iters = 0;  // 0: run the benchmarks
};

struct LoadedModel {
  int64_t batch = 1;
  Graph graph;
  std::unique_ptr<Executor> executor;  // refers to `graph`: LoadedModel never moves (held by unique_ptr)
  Tensor input;
  bool warmed_up = false;
};

std::unique_ptr<LoadedModel> load(const Config& cfg, int64_t batch) {
  auto m = std::make_unique<LoadedModel>();
  m->batch = batch;
  ImportOptions opts;
  opts.batch = batch;
  m->graph = import_onnx(cfg.model, opts);
  if (m->graph.inputs.size() != 1)
    throw Error(cfg.model + ": the benchmark feeds one input, the model has " + std::to_string(m->graph.inputs.size()));
  const Value& in = m->graph.value(m->graph.inputs[0]);
  if (in.dtype != DType::Float32) throw Error(cfg.model + ": input '" + in.name + "' is not float32");
  m->executor = std::make_unique<Executor>(m->graph);
  m->input = random_tensor(in.shape);
  return m;
}

// "[8,197,384]x[384,1152]" from a node's input shapes (constants included).
std::string shape_signature(const Graph& g, const Node& node) {
  std::string s;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (i) s += "x";
    s += node.inputs[i] >= 0 ? shape_str(g.value(node.inputs[i]).shape) : "-";
  }
  return s;
}

// Attributes wall time between consecutive node completions to the node that just finished
// (the executor calls the observer right after each node; freeing dead values is charged to the
// next node, which is noise at this scale).
class NodeTimer : public ValueObserver {
 public:
  explicit NodeTimer(size_t nodes) : seconds(nodes, 0.0) {}
  void start() {
    last_ = Clock::now();
    last_node_ = -1;
  }
  void on_value(const Graph& g, int value_id, Tensor&) override {
    const int n = g.value(value_id).producer;
    if (n < 0 || n == last_node_) return;  // a later output of the same node
    const auto now = Clock::now();
    seconds[static_cast<size_t>(n)] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
    last_node_ = n;
  }
  std::vector<double> seconds;

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_;
  int last_node_ = -1;
};

void print_op_profile(const Config& cfg, LoadedModel& m) {
  const Graph& g = m.graph;
  for (int i = 0; i < cfg.warmup; ++i) m.executor->run({m.input});
  NodeTimer timer(g.nodes.size());
  double total = 0;
  for (int it = 0; it < cfg.op_profile_iters; ++it) {
    const auto t0 = std::chrono::steady_clock::now();
    timer.start();
    m.executor->run({m.input}, &timer);
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double iters = cfg.op_profile_iters;
  struct Row {
    double sec = 0;
    int count = 0;
  };
  std::map<std::string, Row> by_op, by_sig;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const Node& node = g.nodes[n];
    by_op[node.op].sec += timer.seconds[n] / iters;
    by_op[node.op].count += 1;
    Row& r = by_sig[node.op + " " + shape_signature(g, node)];
    r.sec += timer.seconds[n] / iters;
    r.count += 1;
  }
  auto print = [&](const char* title, const std::map<std::string, Row>& rows, size_t limit) {
    std::vector<std::pair<std::string, Row>> v(rows.begin(), rows.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.sec > b.second.sec; });
    std::printf("  %-72s %6s %10s %7s\n", title, "nodes", "ms/fwd", "share");
    for (size_t i = 0; i < v.size() && i < limit; ++i)
      std::printf("  %-72s %6d %10.2f %6.1f%%\n", v[i].first.c_str(), v[i].second.count, v[i].second.sec * 1e3,
                  100.0 * v[i].second.sec * iters / total);
  };
  std::printf("op profile: %s, batch %lld, %d threads, %d forwards: %.1f ms/forward, %.2f images/s\n",
              cfg.model.c_str(), static_cast<long long>(m.batch), num_threads(), cfg.op_profile_iters,
              1e3 * total / iters, static_cast<double>(m.batch) * iters / total);
  print("op type", by_op, 100);
  print("op and input shapes", by_sig, 25);
  std::printf("\n");
}

void register_forward(const Config& cfg, LoadedModel* m) {
  const std::string name = "BM_float_forward/batch:" + std::to_string(m->batch) + "/threads:" + std::to_string(cfg.threads);
  benchmark::RegisterBenchmark(name.c_str(),
                               [m, warmup = cfg.warmup](benchmark::State& state) {
                                 if (!m->warmed_up) {
                                   for (int i = 0; i < warmup; ++i) m->executor->run({m->input});
                                   m->warmed_up = true;
                                 }
                                 for (auto _ : state) {
                                   std::vector<Tensor> out = m->executor->run({m->input});
                                   benchmark::DoNotOptimize(out.front().raw());
                                 }
                                 state.SetItemsProcessed(state.iterations() * m->batch);
                                 state.counters["batch"] = static_cast<double>(m->batch);
                               })
      ->UseRealTime()
      ->MeasureProcessCPUTime()  // cpu_time = CPU of all threads: load-independent-ish cost per forward
      ->MinTime(cfg.min_time)
      ->Unit(benchmark::kMillisecond);
}

// One benchmark per distinct (op, input shapes): the op's kernel alone on the real inputs of the
// first such node, captured from one forward. `per_forward` says how many nodes share it.
class Capture : public ValueObserver {
 public:
  explicit Capture(std::set<int> want) : want_(std::move(want)) {}
  void on_value(const Graph&, int value_id, Tensor& t) override {
    if (want_.count(value_id)) values[value_id] = t;
  }
  std::map<int, Tensor> values;

 private:
  std::set<int> want_;
};

struct KernelCase {
  LoadedModel* model = nullptr;
  int node = -1;
  std::map<int, Tensor> inputs;  // non-constant inputs by value id
};

void register_kernels(LoadedModel* m) {
  const Graph& g = m->graph;
  std::map<std::string, std::pair<int, int>> first_and_count;  // signature -> (node, count)
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const std::string sig = g.nodes[n].op + "/" + shape_signature(g, g.nodes[n]);
    auto [it, inserted] = first_and_count.try_emplace(sig, static_cast<int>(n), 0);
    it->second.second += 1;
  }
  std::set<int> want;
  for (const auto& [sig, fc] : first_and_count)
    for (int in : g.nodes[static_cast<size_t>(fc.first)].inputs)
      if (in >= 0 && !g.is_constant(in)) want.insert(in);
  Capture cap(want);
  m->executor->run({m->input}, &cap);
  for (int in : g.inputs) cap.values[in] = m->input;
  for (const auto& [sig, fc] : first_and_count) {
    auto kc = std::make_shared<KernelCase>();
    kc->model = m;
    kc->node = fc.first;
    for (int in : g.nodes[static_cast<size_t>(fc.first)].inputs)
      if (in >= 0 && !g.is_constant(in)) kc->inputs[in] = cap.values.at(in);
    const std::string name = "BM_kernel/batch:" + std::to_string(m->batch) + "/" + sig;
    benchmark::RegisterBenchmark(name.c_str(),
                                 [kc, count = fc.second](benchmark::State& state) {
                                   const Graph& gr = kc->model->graph;
                                   const Node& node = gr.nodes[static_cast<size_t>(kc->node)];
                                   OpCall call{node, {}, gr.opset};
                                   for (int in : node.inputs)
                                     call.in.push_back(in < 0 ? nullptr
                                                       : gr.is_constant(in) ? &gr.constant(in)
                                                                            : &kc->inputs.at(in));
                                   const OpFn fn = find_op(node.op);
                                   std::vector<Tensor> outs(node.outputs.size());
                                   for (auto _ : state) {
                                     fn(call, outs);
                                     benchmark::DoNotOptimize(outs.front().raw());
                                   }
                                   state.counters["per_forward"] = count;
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

Config parse_config(int& argc, char** argv) {
  Config cfg;
  if (const char* env = std::getenv("QVIT_BENCH_MODEL")) cfg.model = env;
  if (const char* env = std::getenv("QVIT_BENCH_THREADS")) cfg.threads = static_cast<int>(parse_positive(env, "QVIT_BENCH_THREADS"));
  if (auto v = take_flag(argc, argv, "model")) cfg.model = *v;
  if (auto v = take_flag(argc, argv, "threads")) cfg.threads = static_cast<int>(parse_positive(*v, "--threads"));
  if (auto v = take_flag(argc, argv, "batches")) cfg.batches = parse_int_list(*v, "--batches");
  if (auto v = take_flag(argc, argv, "min_time")) {
    char* end = nullptr;
    cfg.min_time = std::strtod(v->c_str(), &end);
    if (v->empty() || *end || !(cfg.min_time > 0)) throw Error("--min_time: expected seconds > 0, got '" + *v + "'");
  }
  if (auto v = take_flag(argc, argv, "warmup")) cfg.warmup = *v == "0" ? 0 : static_cast<int>(parse_positive(*v, "--warmup"));
  if (take_flag(argc, argv, "kernels")) cfg.kernels = true;
  if (auto v = take_flag(argc, argv, "op_profile")) cfg.op_profile_iters = v->empty() ? 3 : static_cast<int>(parse_positive(*v, "--op_profile"));
  if (cfg.model.empty()) throw Error("no model: pass --model=PATH or set QVIT_BENCH_MODEL (see docs/benchmarks.md)");
  return cfg;
}

int run(int argc, char** argv) {
  const Config cfg = parse_config(argc, argv);
  set_num_threads(cfg.threads);
  std::vector<std::unique_ptr<LoadedModel>> models;
  for (int64_t b : cfg.batches) models.push_back(load(cfg, b));

  if (cfg.op_profile_iters > 0) {
    for (auto& m : models) print_op_profile(cfg, *m);
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("qvit_model", cfg.model);
  benchmark::AddCustomContext("qvit_threads", std::to_string(num_threads()));
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  for (auto& m : models) register_forward(cfg, m.get());
  if (cfg.kernels)
    for (auto& m : models) register_kernels(m.get());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace qvit::bench

int main(int argc, char** argv) {
  try {
    return qvit::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qvit_float_bench: %s\n", e.what());
    return 1;
  }
}
