#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.h"
#include "onnx/int_onnx_export.h"
#include "onnx/onnx_import.h"
#include "calib/calibration_result.h"
#include "report/allocation_report.h"
#include "report/model_summary.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace qvit::cli {

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "ops, shapes, parameters, quantizable layers, unsupported nodes");
  auto model = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  auto calib = std::make_shared<std::string>();
  cmd->add_option("model", *model, "ONNX model")->required();
  cmd->add_option("--calib", *calib, "also show this calibration's mixed-precision allocation (block × layer widths, importance)");
  cmd->add_flag("--json", *json_out, "print the summary as JSON");
  cmd->callback([=] {
    // An exported integer-only model: its IntGraph, op for op.
    if (is_int_onnx(*model)) {
      const LoweredModel m = load_int_onnx(*model);
      nlohmann::json j = summarize_graph(m.graph);
      int64_t weights = 0;
      for (const Node& n : m.graph.nodes)
        if ((n.op == "QMatMul" || n.op == "QConv") && m.graph.is_constant(n.inputs.at(1)))
          weights += m.graph.constant(n.inputs[1]).numel();
      j["integer_only"] = true;
      j["nonlinear"] = nonlinear_family_name(m.family);
      j["parameters"] = weights;
      for (const char* k : {"quantizable", "layers", "unsupported"}) j.erase(k);
      if (*json_out) {
        std::cout << j.dump(2) << "\n";
        return;
      }
      std::cout << "model       " << *model << "  (integer-only, qvit.int/1, " << nonlinear_family_name(m.family)
                << " kernels)\n";
      for (const auto& i : j["inputs"])
        std::cout << "input       " << i["name"].get<std::string>() << " int32 " << i["shape"].dump() << "  (codes of a "
                  << m.input.bits << "-bit " << scheme_name(m.input.scheme) << " grid, minus the zero point)\n";
      for (const auto& o : j["outputs"]) std::cout << "output      " << o["name"].get<std::string>() << " int32 " << o["shape"].dump() << "\n";
      std::cout << "weights     " << weights << " integers\nnodes       " << j["nodes"] << "\nops        ";
      for (const auto& [k, v] : j["ops"].items()) std::cout << " " << k << "×" << v;
      std::cout << "\n";
      return;
    }
    const auto unsupported = find_unsupported_nodes(*model);
    if (!unsupported.empty()) {
      if (*json_out) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& u : unsupported) list.push_back({{"op", u.op}, {"node", u.node}});
        std::cout << nlohmann::json{{"model", *model}, {"unsupported", list}}.dump(2) << "\n";
      }
      throw Error(describe_unsupported(*model, unsupported));
    }
    const Graph g = import_onnx(*model);
    nlohmann::json j = summarize_graph(g);
    if (!calib->empty()) {
      const CalibrationResult c = load_calibration_result(*calib);
      if (c.model_sha256 != file_sha256(*model))
        throw Error(*calib + ": was made for " + c.model + " (sha256 " + c.model_sha256.substr(0, 12) + "…), not " + *model);
      j["allocation"] = allocation_summary(c);
      if (!*json_out) {
        std::cout << format_summary_text(j) << "\n" << format_allocation_table(c);
        return;
      }
    }
    std::cout << (*json_out ? j.dump(2) + "\n" : format_summary_text(j));
  });
}

}  // namespace qvit::cli
