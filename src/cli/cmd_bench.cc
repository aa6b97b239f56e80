// qvit bench: images/s of a model's forward pass alone (eval/throughput.h), float or integer.
#include <spdlog/spdlog.h>

#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "eval/kernel_bench.h"
#include "eval/throughput.h"
#include "onnx/int_onnx_export.h"
#include "runtime/float_model.h"
#include "runtime/int_model.h"
#include "util/atomic_file.h"

namespace qvit::cli {

namespace {

Shape with_batch(Shape s, int64_t batch) {
  if (s.empty()) throw Error("the model input has no static shape");
  s[0] = batch;
  return s;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "images/s of the forward pass alone (random images, after a warm-up run): the "
                                          "float model, its integer-only model (--calib C --int), or an exported .int.onnx");
  struct Opts {
    std::string model, calib, json, nonlinear;
    bool integer = false, kernels_only = false;
    int64_t batch = 8;
    double seconds = 5;
    int m_star = 19;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "ONNX model (float, or an exported integer-only .int.onnx)");
  cmd->add_flag("--kernels-only", o->kernels_only,
                "no model: each integer nonlinear kernel against its float counterpart at the MLSys'23 shapes (ms per call)");
  cmd->add_option("--calib", o->calib, "with --int: the calibration (.calib.json) to lower the float model with");
  cmd->add_flag("--int", o->integer, "with --calib: the integer-only model on the integer runtime");
  cmd->add_option("--batch", o->batch, "images per forward pass (an integer model exported for a batch above 1 runs at that batch)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))->capture_default_str();
  cmd->add_option("--seconds", o->seconds, "time the forward pass for at least this long (and at least 3 runs)")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  cmd->add_option("--nonlinear", o->nonlinear, "with --int: Softmax/GELU kernels (default: the recipe's)")
      ->check(CLI::IsMember({"shift", "poly", "int32safe"}));
  cmd->add_option("--m-star", o->m_star, "with --int: int32-safe softmax M* for layers the calibration has none for")
      ->check(CLI::Range(1, 30));
  cmd->add_option("--json", o->json, "write the result as JSON to FILE ('-' for stdout)");
  cmd->callback([o] {
    if (!o->json.empty() && o->json != "-") check_writable(o->json);
    if (o->kernels_only) {
      if (!o->model.empty() || !o->calib.empty()) throw Error("--kernels-only takes no model or calibration");
      const std::vector<KernelTiming> t = bench_kernels(o->seconds);
      for (const auto& k : t)
        spdlog::info("{:<18} {:<14} integer {:8.3f} ms   {:<13} {:8.3f} ms   float/integer {:5.2f}x", k.kernel, k.shape,
                     k.integer_ms, k.float_kernel, k.float_ms, k.float_ms / k.integer_ms);
      const nlohmann::json j = kernel_timings_json(t);
      if (o->json == "-") std::cout << j.dump(2) << "\n";
      else if (!o->json.empty()) write_file_atomic(o->json, j.dump(2) + "\n");
      return;
    }
    if (o->model.empty()) throw Error("bench needs a model (or --kernels-only)");
    if (o->integer && o->calib.empty()) throw Error("--int needs --calib");
    if (!o->calib.empty() && !o->integer)
      throw Error("--calib without --int: bench times deployable models (float, or integer with --int)");
    ThroughputResult r;
    if (is_int_onnx(o->model)) {
      if (o->integer) throw Error(o->model + ": an exported integer model carries its calibration; drop --calib/--int");
      IntModel m(load_int_onnx(o->model));
      // A batch-1 export (export's default) takes any number of images per call, run side by side
      // on the threads (IntModel::run_integer); a model exported for a larger batch runs that batch.
      const bool any_batch = m.batch_size() == 1;
      if (!any_batch && o->batch != m.batch_size())
        spdlog::warn("{} was exported for batch {}: timing that batch, not --batch {}", o->model, m.batch_size(), o->batch);
      const Shape s = with_batch(m.lowered().graph.value(m.lowered().graph.inputs.at(0)).shape,
                                 any_batch ? o->batch : m.batch_size());
      r = measure_throughput([&](const Tensor& x) { m.run_integer(x); }, s, o->seconds);
      r.mode = "integer_onnx";
    } else if (o->integer) {
      const CalibrationResult calib = load_calibration_result(o->calib);
      LoweringOptions lopt;
      lopt.family = nonlinear_family_from_name(o->nonlinear.empty() ? calib.recipe.nonlinear : o->nonlinear);
      lopt.softmax_m_star = o->m_star;
      IntModel m(o->model, calib, o->batch, lopt);
      const Shape s = with_batch(m.lowered().graph.value(m.lowered().graph.inputs.at(0)).shape, o->batch);
      r = measure_throughput([&](const Tensor& x) { m.run_integer(x); }, s, o->seconds);
      r.mode = "integer";
    } else {
      FloatModel m(o->model, o->batch);
      const Shape s = with_batch(m.graph().value(m.graph().inputs.at(0)).shape, o->batch);
      r = measure_throughput([&](const Tensor& x) { m.run(x); }, s, o->seconds);
      r.mode = "float";
    }
    nlohmann::json j = r.to_json();
    j["model"] = o->model;
    if (!o->calib.empty()) j["calib"] = o->calib;
    spdlog::info("{}: {} model, batch {}: {:.1f} images/s ({} runs in {:.2f} s after a {:.2f} s warm-up; {} threads, {} "
                 "kernels; peak RSS {:.0f} MB)",
                 o->model, r.mode, r.batch, r.images_per_second(), r.runs, r.seconds, r.warmup_seconds, r.threads, r.kernels,
                 r.peak_rss_mb);
    if (o->json == "-") std::cout << j.dump(2) << "\n";
    else if (!o->json.empty()) write_file_atomic(o->json, j.dump(2) + "\n");
  });
}

}  // namespace qvit::cli
