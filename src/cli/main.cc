// qvit: post-training quantization toolchain for Vision Transformers — command-line front end.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include <new>

#include "cli/commands.h"
#include "kernels/kernel_path.h"
#include "util/error.h"
#include "util/limits.h"

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
  // Caps on what one file may make qvit allocate (docs/robustness.md); sizes in a file are
  // checked against them before anything is allocated.
  qvit::ResourceLimits limits;
  int64_t max_tensor_mb = limits.max_tensor_bytes >> 20;
  int64_t max_image_mp = limits.max_image_pixels / 1'000'000;
  app.add_option("--max-tensor-mb", max_tensor_mb, "largest single tensor a file may declare or produce, in MiB")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->capture_default_str();
  app.add_option("--max-image-mp", max_image_mp, "largest image to decode, in megapixels (checked from its header)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  std::string kernels;
  app.add_option("--kernels", kernels,
                 "integer kernels: auto (the best this CPU runs), ref (the reference kernels), plain, avx2, avx2vnni, "
                 "avx512; default: QVIT_KERNELS, else auto");
  app.parse_complete_callback([&] {
    if (verbose) spdlog::set_level(spdlog::level::debug);
    // An unknown or unsupported path is a command-line error, found before any work starts.
    if (!kernels.empty()) qvit::kernels::select_kernel_path(kernels);
    else qvit::kernels::active_kernel_path();
    limits.max_tensor_bytes = max_tensor_mb << 20;
    limits.max_image_pixels = max_image_mp * 1'000'000;
    qvit::set_resource_limits(limits);
  });
  qvit::cli::add_inspect_command(app);
  qvit::cli::add_run_command(app);
  qvit::cli::add_calibrate_command(app);
  qvit::cli::add_eval_command(app);
  qvit::cli::add_export_command(app);
  qvit::cli::add_bench_command(app);
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
  } catch (const std::bad_alloc&) {
    // Within the caps an allocation can still fail when the machine (or `ulimit -v`) has less
    // memory than the caps allow: a resource limit, not a bug in qvit.
    spdlog::error("out of memory; lower --max-tensor-mb / --max-image-mp (defaults 2048 MiB, 100 MP) or run with more memory");
    return 1;
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    return 3;
  }
  return 0;
}
