#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.h"
#include "onnx/onnx_import.h"
#include "report/model_summary.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace qvit::cli {

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "ops, shapes, parameters, quantizable layers, unsupported nodes");
  auto model = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "ONNX model")->required();
  cmd->add_flag("--json", *json_out, "print the summary as JSON");
  cmd->callback([=] {
    const auto unsupported = find_unsupported_nodes(*model);
    if (!unsupported.empty()) {
      nlohmann::json j = {{"model", *model}, {"unsupported", unsupported}};
      if (*json_out) std::cout << j.dump(2) << "\n";
      std::string list;
      for (const auto& u : unsupported) list += (list.empty() ? "" : ", ") + u;
      throw Error(*model + ": " + std::to_string(unsupported.size()) + " unsupported node(s): " + list);
    }
    const Graph g = import_onnx(*model);
    const nlohmann::json j = summarize_graph(g);
    std::cout << (*json_out ? j.dump(2) + "\n" : format_summary_text(j));
  });
}

}  // namespace qvit::cli
