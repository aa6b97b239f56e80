#pragma once
// Each qvit subcommand registers its options and handler on the CLI11 app. Handlers are thin:
// parse, call qvit_core, print. Errors propagate as qvit::Error to main(), which logs one line.
#include <CLI/CLI.hpp>

namespace qvit::cli {

void add_inspect_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_bench_command(CLI::App& app);

}  // namespace qvit::cli
