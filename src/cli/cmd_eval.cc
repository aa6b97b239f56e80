#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "data/batch_loader.h"
#include "data/dataset.h"
#include "eval/classification.h"
#include "eval/config_lookup.h"
#include "eval/fake_quant_eval.h"
#include "eval/int_eval.h"
#include "onnx/int_onnx_export.h"
#include "runtime/float_model.h"
#include "report/allocation_report.h"
#include "runtime/int_model.h"

#include "util/atomic_file.h"
#include "util/thread_pool.h"

namespace qvit::cli {


namespace {
// Mixed-precision calibrations: the widths each layer ran at (log lines and the JSON).
void report_allocation(const CalibrationResult& calib, nlohmann::json& j) {
  if (!calib.allocation) return;
  j["allocation"] = allocation_summary(calib);
  std::istringstream table(format_allocation_table(calib));
  for (std::string line; std::getline(table, line);)
    if (!line.empty()) spdlog::info("{}", line);
}
}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "top-1/top-5 accuracy of a model on a labelled image set");
  struct Opts {
    std::string model, data, config, preset, json, split, calib, nonlinear;
    int64_t limit = -1, batch = 32;
    int m_star = LoweringOptions{}.softmax_m_star;
    bool skip_bad = false, quiet = false, integer = false, compare = false, strict = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "ONNX model")->required();
  cmd->add_option("--data", o->data, "image folder (class subfolders), list file, or folder of IDX files; "
                                      "default: the config's default_data");
  cmd->add_option("--config", o->config, "preprocessing config JSON (default: the config in configs/ that names the model)");
  cmd->add_option("--preset", o->preset, "a bundled preprocessing config by name: imagenet, fmnist, mnist, ...");
  cmd->add_option("--split", o->split, "IDX split prefix (train, t10k)");
  cmd->add_option("--limit", o->limit, "evaluate only the first N samples")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", o->batch, "batch size")->check(CLI::Range(1, 4096));
  cmd->add_option("--json", o->json, "write the result as JSON to FILE ('-' for stdout)");
  cmd->add_option("--calib", o->calib, "evaluate the fake-quant simulation of this calibration (.calib.json)");
  cmd->add_flag("--int", o->integer, "with --calib: lower to the integer-only model and evaluate it on the int32 runtime");
  cmd->add_flag("--compare", o->compare, "with --int: also run the fake-quant and float models on every image (three "
                "forward passes instead of one): top-1 agreement with each, and their top-1");
  cmd->add_option("--nonlinear", o->nonlinear, "with --int: Softmax/GELU kernels: shift (I-ViT), poly (I-BERT), int32safe "
                                                "(MLSys'23; default: the recipe's)")
      ->check(CLI::IsMember({"shift", "poly", "int32safe"}));
  cmd->add_option("--m-star", o->m_star, "with --int: int32-safe softmax left shift M* for layers the calibration has none for")
      ->check(CLI::Range(1, 30));
  cmd->add_flag("--strict", o->strict, "integer models: any int32 truncation or failed range proof is an error (exit 1)");
  cmd->add_flag("--skip-bad", o->skip_bad, "skip (and count) unreadable images instead of failing; an error if none is readable");
  cmd->add_flag("-q,--quiet", o->quiet, "no progress bar");
  cmd->callback([o] {
    if (o->integer && o->calib.empty()) throw Error("--int needs --calib");
    if (!o->nonlinear.empty() && !o->integer) throw Error("--nonlinear selects the integer kernels: it needs --int");
    if (o->compare && !o->integer) throw Error("--compare compares the integer model with the fake-quant and float ones: it needs --int");
    if (!o->json.empty() && o->json != "-") check_writable(o->json);
    // An exported integer model (qvit export) carries its calibration and batch size.
    std::optional<IntModel> int_onnx;
    if (is_int_onnx(o->model)) {
      if (!o->calib.empty() || o->integer)
        throw Error(o->model + ": an exported integer model carries its calibration; drop --calib/--int");
      int_onnx.emplace(load_int_onnx(o->model));
      // Loader batches of whole chunks of the model's own batch (one per thread when they run side
      // by side, IntModel::run), so no chunk is padded but the last; a batch-1 model takes --batch.
      if (int_onnx->batch_size() > 1) o->batch = loader_batch(*int_onnx, int_onnx->batch_size());
    }
    // --int: lowered before the loader exists, for the chunk size its activations allow
    // (lower_for_evaluation), and the loader takes one chunk per thread when they run side by side.
    std::optional<CalibrationResult> calib;
    LoweringOptions int_options;
    std::unique_ptr<IntModel> int_model;
    if (!o->calib.empty()) calib = load_calibration_result(o->calib);
    if (o->integer) {
      int_options.family = nonlinear_family_from_name(o->nonlinear.empty() ? calib->recipe.nonlinear : o->nonlinear);
      int_options.softmax_m_star = o->m_star;
      int_model = lower_for_evaluation(o->model, *calib, o->batch, int_options);
    }
    const LocatedConfig cfg = choose_config(o->model, o->config, o->preset);
    std::string data_path = o->data.empty() ? cfg.resolve(cfg.config.default_data) : o->data;
    if (data_path.empty()) throw Error(cfg.file.string() + ": no default_data; pass --data");
    data::DatasetOptions dopt;
    dopt.split = o->split;
    auto dataset = data::open_dataset(data_path, cfg.config, dopt);
    spdlog::info("{}", dataset->description());
    data::BatchLoaderOptions lopt;
    lopt.batch_size = int_model ? loader_batch(*int_model, o->batch) : o->batch;
    lopt.limit = o->limit;
    lopt.skip_bad = o->skip_bad;
    lopt.num_classes = cfg.config.num_classes;
    data::BatchLoader loader(*dataset, lopt);
    const bool progress = !o->quiet && o->json != "-";

    nlohmann::json j;
    ClassificationResult r;
    std::pair<uint64_t, uint64_t> integrity{0, 0};  // truncations, failed range proofs
    if (int_onnx) {
      IntRunStats stats;
      r = evaluate_classifier([&](const Tensor& images) { return int_onnx->run(images, &stats); }, loader, progress);
      j = r.to_json();
      j["mode"] = "integer_onnx";
      j["nonlinear"] = nonlinear_family_name(int_onnx->lowered().family);
      const TruncationReport trunc = truncation_report(int_onnx->lowered().graph, stats, int_onnx->merged_nodes());
      j.update(trunc.to_json());
      trunc.log_nonzero();
      integrity = {trunc.total_events(), 0};
    } else if (o->calib.empty()) {
      FloatModel model(o->model, o->batch);
      r = evaluate_classifier([&](const Tensor& images) { return model.run(images); }, loader, progress);
      j = r.to_json();
      j["mode"] = "float";
    } else if (o->integer) {
      const IntEvaluation ev = evaluate_integer(*int_model, o->model, *calib, loader, o->batch, progress, o->compare);
      r = ev.integer;
      j = ev.to_json();
      j["mode"] = "integer";
      j["calib"] = o->calib;
      j["recipe"] = calib->recipe.name;
      report_allocation(*calib, j);
      if (ev.compared)
        spdlog::info("integer-only ({}): top-1 {:.2f}% (fake-quant {:.2f}%, float {:.2f}%); agreement with fake-quant {:.2f}%, "
                     "with float {:.2f}%",
                     nonlinear_family_name(int_options.family), r.top1(), ev.fake_quant_top1, ev.float_top1,
                     ev.agreement_fake_quant, ev.agreement_float);
      else
        spdlog::info("integer-only ({}): top-1 {:.2f}% (--compare adds agreement with the fake-quant and float models)",
                     nonlinear_family_name(int_options.family), r.top1());
      ev.truncations.log_nonzero();
      uint64_t failed = 0;
      for (const auto& b : ev.bounds)
        if (!b.fits) {
          if (failed++ < 3)
            spdlog::warn("int32 range proof failed: {} ({}, {}) can reach {:.0f} > 2^31 - 1", b.node, b.kernel, b.stage, b.worst_abs);
        }
      if (failed > 3) spdlog::warn("int32 range proof failed for {} more kernel(s) (all in the JSON's int32_range_proof)", failed - 3);
      integrity = {ev.truncations.total_events(), failed};
    } else {
      const FakeQuantEvaluation ev = evaluate_fake_quant(o->model, *calib, loader, o->batch, progress);
      r = ev.quantized;
      j = ev.to_json();
      j["mode"] = "fake_quant";
      j["calib"] = o->calib;
      j["recipe"] = calib->recipe.name;
      report_allocation(*calib, j);
      spdlog::info("top-1 agreement with float: {:.2f}%", j["agreement"].get<double>());
    }
    j["model"] = o->model;
    j["data"] = data_path;
    j["config"] = cfg.file.string();
    // A run that evaluated nothing is a failure, not "top-1 0.00% on 0 images".
    if (r.samples == 0 && r.skipped > 0)
      throw Error(data_path + ": all " + std::to_string(r.skipped) + " image(s) were unreadable and skipped (--skip-bad); " +
                  "nothing was evaluated; first: " + r.first_skip_reason);
    if (r.skipped) spdlog::warn("{}", r.skip_summary);
    spdlog::info("{}: top-1 {:.2f}%  top-5 {:.2f}%  on {} images  ({} images/s)", o->model, r.top1(), r.top5(), r.samples,
                 r.images_per_second() >= 100 ? fmt::format("{:.0f}", r.images_per_second()) : fmt::format("{:.3g}", r.images_per_second()));
    if (o->json == "-") std::cout << j.dump(2) << "\n";
    else if (!o->json.empty()) write_file_atomic(o->json, j.dump(2) + "\n");
    if (o->strict && (integrity.first || integrity.second))
      throw Error(o->model + ": --strict: " + std::to_string(integrity.first) + " int32 truncation(s), " +
                  std::to_string(integrity.second) + " failed range proof(s)");
  });
}

}  // namespace qvit::cli
