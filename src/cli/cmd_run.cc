#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "cli/commands.h"
#include "ir/executor.h"
#include "onnx/int_onnx_export.h"
#include "onnx/onnx_import.h"
#include "runtime/float_model.h"
#include "runtime/int_model.h"
#include "util/atomic_file.h"
#include "util/npy.h"

namespace qvit::cli {

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "run a model (float, QDQ, or an exported integer-only .int.onnx) on a .npy input "
                                        "(NCHW float32), write logits as .npy");
  struct Opts {
    std::string model, input, output;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "ONNX model")->required();
  cmd->add_option("--input", o->input, "input tensor (.npy, float32)")->required();
  cmd->add_option("--output", o->output, "output file (.npy)")->required();
  cmd->callback([o] {
    check_writable(o->output);
    Tensor x = read_npy(o->input);
    if (x.dtype() != DType::Float32) throw Error(o->input + ": input must be float32, got " + dtype_name(x.dtype()));
    // A batch of empty images has no answer to give; a shape like (2^62, 0, 4) would otherwise
    // "succeed" with an output of 2^62 empty rows.
    if (x.rank() == 0 || x.empty()) throw Error(o->input + ": shape " + shape_str(x.shape()) + " holds no elements; expected [N, C, H, W]");
    if (is_int_onnx(o->model)) {
      // The integer-only model: the float input quantized at its boundary, the logits scaled back.
      IntModel m(load_int_onnx(o->model));
      const Shape& want = m.lowered().graph.value(m.lowered().graph.inputs.at(0)).shape;
      if (x.rank() != static_cast<int>(want.size()) || !std::equal(want.begin() + 1, want.end(), x.shape().begin() + 1))
        throw Error(o->input + ": shape " + shape_str(x.shape()) + " does not fit the model input " + shape_str(want));
      const auto t0 = std::chrono::steady_clock::now();
      const Tensor y = m.run(x);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      write_npy(o->output, y);
      spdlog::info("{} → {} {} in {:.1f} ms (integer-only model)", o->input, o->output, shape_str(y.shape()), ms);
      return;
    }
    // A model exported with a fixed batch runs the input in chunks of it.
    FloatModel model(o->model, x.rank() > 0 ? x.shape()[0] : 1);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Tensor> out = {model.run(x)};
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    write_npy(o->output, out.at(0));
    spdlog::info("{} → {} {} in {:.1f} ms", o->input, o->output, shape_str(out[0].shape()), ms);
  });
}

}  // namespace qvit::cli
