// Calibration time (issue 3: DeiT-S shape, 32 images, target ≤ 30 s without LRP): the whole
// `qvit calibrate` pipeline — import, image decoding and preprocessing, observation passes,
// reparameterization, weight quantizers — per recipe, wall clock.
//   qvit_calibrate_bench --model=DEIT_S.onnx --data=DIR|LIST --config=configs/imagenet.json
//                        [--recipes=w8a8,w4a4-crl] [--samples=32] [--threads=2]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>

#include "bench_common.h"
#include "calib/calibrator.h"
#include "data/dataset.h"
#include "eval/config_lookup.h"
#include "util/thread_pool.h"

namespace {

std::string g_model, g_data, g_config;
int64_t g_samples = 32;

void BM_Calibrate(benchmark::State& state, const std::string& recipe_path) {
  const qvit::LocatedConfig cfg = qvit::load_config_file(g_config);
  auto dataset = qvit::data::open_dataset(g_data, cfg.config);
  const qvit::Recipe recipe = qvit::load_recipe(recipe_path);
  qvit::CalibrateOptions opt;
  opt.samples = g_samples;
  opt.progress = false;
  for (auto _ : state) {
    qvit::CalibrationResult r = qvit::calibrate(g_model, *dataset, recipe, opt);
    benchmark::DoNotOptimize(r);
  }
  state.counters["images"] = static_cast<double>(g_samples);
}

}  // namespace

int main(int argc, char** argv) {
  using qvit::bench::take_flag;
  try {
    g_model = take_flag(argc, argv, "model").value_or("");
    g_data = take_flag(argc, argv, "data").value_or("");
    g_config = take_flag(argc, argv, "config").value_or(std::string(QVIT_SOURCE_DIR) + "/configs/imagenet.json");
    const std::string recipes = take_flag(argc, argv, "recipes").value_or("w8a8,w4a4-crl");
    if (auto s = take_flag(argc, argv, "samples")) g_samples = qvit::bench::parse_positive(*s, "--samples");
    qvit::set_num_threads(static_cast<int>(qvit::bench::parse_positive(take_flag(argc, argv, "threads").value_or("2"), "--threads")));
    if (g_model.empty() || g_data.empty()) {
      std::fprintf(stderr, "usage: %s --model=MODEL.onnx --data=DIR|LIST [--config=CFG] [--recipes=a,b] [--samples=N]\n", argv[0]);
      return 2;
    }
    size_t start = 0;
    while (start <= recipes.size()) {
      const size_t end = recipes.find(',', start);
      const std::string name = recipes.substr(start, end == std::string::npos ? std::string::npos : end - start);
      const std::string path = std::string(QVIT_SOURCE_DIR) + "/configs/recipes/" + name + ".json";
      benchmark::RegisterBenchmark(("calibrate/" + name).c_str(), [path](benchmark::State& s) { BM_Calibrate(s, path); })
          ->Unit(benchmark::kSecond)
          ->UseRealTime()
          ->Iterations(1);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
