#include "cli/commands.h"

namespace qvit::cli {

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "top-1/top-5 accuracy of a model on a labelled image set");
  (void)cmd;
}

}  // namespace qvit::cli
