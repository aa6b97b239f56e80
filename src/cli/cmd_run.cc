#include <spdlog/spdlog.h>

#include <chrono>

#include "cli/commands.h"
#include "ir/executor.h"
#include "onnx/onnx_import.h"
#include "util/npy.h"

namespace qvit::cli {

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "run the float model on a .npy input (NCHW float32), write logits as .npy");
  struct Opts {
    std::string model, input, output;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "ONNX model")->required();
  cmd->add_option("--input", o->input, "input tensor (.npy, float32)")->required();
  cmd->add_option("--output", o->output, "output file (.npy)")->required();
  cmd->callback([o] {
    Tensor x = read_npy(o->input);
    if (x.dtype() != DType::Float32) throw Error(o->input + ": input must be float32, got " + dtype_name(x.dtype()));
    ImportOptions opt;
    opt.batch = x.rank() > 0 ? x.shape()[0] : 1;
    const Graph g = import_onnx(o->model, opt);
    if (g.inputs.size() != 1) throw Error(o->model + ": `qvit run` supports models with one input");
    Executor ex(g);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Tensor> out = ex.run({std::move(x)});
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    write_npy(o->output, out.at(0));
    spdlog::info("{} → {} {} in {:.1f} ms", o->input, o->output, shape_str(out[0].shape()), ms);
  });
}

}  // namespace qvit::cli
