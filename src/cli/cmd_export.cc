#include <spdlog/spdlog.h>

#include <filesystem>

#include "cli/commands.h"
#include "intgraph/lower.h"
#include "onnx/int_onnx_export.h"
#include "onnx/qdq_export.h"
#include "runtime/reparameterized_graph.h"
#include "util/atomic_file.h"

namespace qvit::cli {

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "write the calibrated model as an integer-only ONNX model (or standard QDQ ONNX)");
  struct Opts {
    std::string model, calib, output, format = "int", nonlinear;
    int m_star = LoweringOptions{}.softmax_m_star;
    int64_t batch = 1;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "float ONNX model the calibration was made for")->required();
  cmd->add_option("--calib", o->calib, "calibration result (.calib.json)")->required();
  cmd->add_option("-o,--output", o->output, "ONNX file to write")->required();
  cmd->add_option("--format", o->format, "int: integer-only model with the qvit op domain (qvit eval runs it); "
                                         "qdq: standard QuantizeLinear/DequantizeLinear ONNX for ONNX Runtime / TensorRT")
      ->check(CLI::IsMember({"int", "qdq"}))
      ->capture_default_str();
  cmd->add_option("--nonlinear", o->nonlinear, "int format: Softmax/GELU kernels: shift, poly, int32safe (default: the recipe's)")
      ->check(CLI::IsMember({"shift", "poly", "int32safe"}));
  cmd->add_option("--m-star", o->m_star, "int format: int32-safe softmax left shift M* when the calibration has none")
      ->check(CLI::Range(1, 30))
      ->capture_default_str();
  auto* batch_opt = cmd->add_option("--batch", o->batch, "batch size fixed into the exported model's shapes (qdq: dynamic "
                                                         "batch unless given)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->callback([o, batch_opt] {
    const size_t batch_given = batch_opt->count();
    check_writable(o->output);
    const CalibrationResult calib = load_calibration_result(o->calib);
    const Graph g = load_reparameterized(o->model, calib, o->batch, false);
    // A model exported with a fixed batch keeps it.
    const int64_t batch = g.value(g.inputs.at(0)).shape.at(0);
    if (batch != o->batch) spdlog::info("{}: the model has a fixed batch of {}; --batch {} does not apply", o->model, batch, o->batch);
    std::string what;
    std::string batch_text = std::to_string(batch);
    size_t nodes = 0;
    if (o->format == "int") {
      LoweringOptions lopt;
      lopt.family = nonlinear_family_from_name(o->nonlinear.empty() ? calib.recipe.nonlinear : o->nonlinear);
      lopt.softmax_m_star = o->m_star;
      const LoweredModel lowered = lower_to_integer(g, calib, lopt);
      save_int_onnx(lowered, o->output,
                    "qvit integer-only export of " + o->model + " (sha256 " + calib.model_sha256 + "), calibration " + o->calib +
                        " (recipe " + calib.recipe.name + "), nonlinear " + nonlinear_family_name(lopt.family) + ", batch " +
                        std::to_string(batch));
      nodes = lowered.graph.nodes.size();
      what = std::string("integer-only (") + nonlinear_family_name(lopt.family) + ")";
    } else {
      if (!o->nonlinear.empty()) spdlog::warn("--nonlinear applies to --format int only; ignored");
      // Without --batch the QDQ file keeps a dynamic batch, read off the model at batches 1 and 2.
      // (`g` is at batch 1 then: --batch defaults to 1.)
      const bool dynamic = batch_given == 0;
      const Graph g2 = dynamic ? load_reparameterized(o->model, calib, 2, false) : Graph{};
      const QdqExportSummary s = save_qdq_onnx(g, calib, o->output, dynamic ? &g2 : nullptr);
      if (dynamic && g2.value(g2.inputs.at(0)).shape.at(0) != batch) batch_text = "dynamic";
      nodes = g.nodes.size();
      what = "QDQ (" + std::to_string(s.weights) + " quantized weights, " + std::to_string(s.activation_points) +
             " activation points)";
    }
    spdlog::info("{} + {} → {}: {} model, {} IR nodes, batch {}, {:.2f} MB", o->model, o->calib, o->output, what, nodes, batch_text,
                 static_cast<double>(std::filesystem::file_size(o->output)) / 1e6);
  });
}

}  // namespace qvit::cli
