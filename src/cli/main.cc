// qvit: post-training quantization toolchain for Vision Transformers — command-line front end.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("qvit");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^%l%$: %v");
  spdlog::set_level(spdlog::level::info);

  CLI::App app{"qvit — post-training quantization of Vision Transformers to integer-only models"};
  app.set_version_flag("--version", std::string("qvit ") + QVIT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global flags (-v) also after the subcommand
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.parse_complete_callback([&] {
    if (verbose) spdlog::set_level(spdlog::level::debug);
  });
  qvit::cli::add_inspect_command(app);
  qvit::cli::add_run_command(app);
  qvit::cli::add_calibrate_command(app);
  qvit::cli::add_eval_command(app);
  qvit::cli::add_export_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    // Exit codes (README "Commands"): 0 success, 1 bad input (a file, node, image or field), 2 a
    // command line qvit cannot parse, 3 an internal error.
    spdlog::error("{} (see qvit {} --help)", e.what(), app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name());
    return 2;
  } catch (const qvit::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    return 3;
  }
  return 0;
}
