#include <spdlog/spdlog.h>

#include <chrono>

#include "calib/calibrator.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "eval/config_lookup.h"
#include "runtime/int_model.h"
#include "util/atomic_file.h"

namespace qvit::cli {

void add_calibrate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("calibrate", "decide every scale and zero point from a few real images");
  struct Opts {
    std::string model, data, config, preset, recipe, output, split, observer;
    int64_t samples = -1, batch = 0;
    bool first_n = false, quiet = false, skip_bad = false, strict = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "ONNX model")->required();
  cmd->add_option("--data", o->data, "calibration images: class folders, a flat folder of images, a list, IDX, or a .npy "
                                      "of preprocessed inputs [N,...]; default: the config's default_calib");
  cmd->add_option("--config", o->config, "preprocessing config JSON (default: the config in configs/ that names the model)");
  cmd->add_option("--preset", o->preset, "a bundled preprocessing config by name: imagenet, fmnist, mnist, ...");
  cmd->add_option("--split", o->split, "IDX split prefix (train, t10k)");
  cmd->add_option("--recipe", o->recipe, "recipe: a bundled name (w8a8, w6a6, w4a4, w4a4-crl, ...) or a recipe JSON file")->required();
  cmd->add_option("--observer", o->observer, "override the recipe's activation observer")
      ->check(CLI::IsMember({"minmax", "percentile", "mse"}));
  cmd->add_option("--samples", o->samples, "number of calibration images (default: the recipe's)")->check(CLI::Range(1, 1000000));
  cmd->add_option("--batch", o->batch, "images per forward pass; must divide --samples (default: the largest divisor up to 32)")
      ->check(CLI::Range(1, 4096));
  cmd->add_flag("--strict", o->strict, "refuse (exit 1, nothing written) a model that has no integer-only form");
  cmd->add_flag("--skip-bad", o->skip_bad, "skip unreadable images (with a warning) and take the next ones instead");
  cmd->add_flag("--first", o->first_n, "take the first N images in dataset order (default: class-balanced round robin)");
  cmd->add_option("-o,--output", o->output, "calibration result to write (.calib.json)")->required();
  cmd->add_flag("-q,--quiet", o->quiet, "no progress bar");
  cmd->callback([o] {
    check_writable(o->output);  // before the long work, not after it
    Recipe recipe = load_recipe(o->recipe);
    if (!o->observer.empty()) {
      recipe.activation_observer = o->observer == "minmax" ? ObserverKind::MinMax
                                   : o->observer == "mse"  ? ObserverKind::Mse
                                                           : ObserverKind::Percentile;
      recipe.name += "+" + o->observer;
    }
    const LocatedConfig cfg = choose_config(o->model, o->config, o->preset);
    const std::string data_path = o->data.empty() ? cfg.resolve(cfg.config.default_calib) : o->data;
    if (data_path.empty()) throw Error(cfg.file.string() + ": no default_calib; pass --data");
    data::DatasetOptions dopt;
    dopt.split = o->split;
    dopt.allow_unlabelled = true;
    auto dataset = data::open_dataset(data_path, cfg.config, dopt);
    CalibrateOptions copt;
    copt.samples = o->samples > 0 ? o->samples : recipe.samples;
    copt.first_n = o->first_n;
    copt.batch = o->batch;
    copt.skip_bad = o->skip_bad;
    copt.progress = !o->quiet;
    const auto t0 = std::chrono::steady_clock::now();
    const CalibrationResult r = calibrate(o->model, *dataset, recipe, copt);
    // Said now, not at the later eval --int or export: the calibration still serves fake-quant
    // evaluation and QDQ export, but no integer-only model can be made from it.
    LoweringOptions lopt;
    lopt.family = nonlinear_family_from_name(recipe.nonlinear);
    if (const auto problem = integer_lowering_problem(o->model, r, lopt)) {
      if (o->strict) throw Error("integer-only export is impossible for this model: " + *problem);
      spdlog::warn("integer-only export is impossible for this model: {} (the calibration still serves fake-quant eval "
                   "and --format qdq export)", *problem);
    }
    r.save(o->output);
    spdlog::info("{}: recipe {} on {} images ({}) → {} weight and {} activation quantizers, {} reparameterized LayerNorm(s) "
                 "in {:.1f} s → {}",
                 o->model, recipe.name, r.samples, dataset->description(), r.weights.size(), r.activations.size(),
                 r.reparams.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), o->output);
  });
}

}  // namespace qvit::cli
