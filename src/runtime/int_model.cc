#include "runtime/int_model.h"

#include "runtime/batch_padding.h"
#include "runtime/reparameterized_graph.h"

namespace qvit {

IntModel::IntModel(const std::string& model_path, const CalibrationResult& calib, int64_t batch_size,
                   const LoweringOptions& options, bool allow_other_model)
    : batch_(batch_size) {
  const Graph g = load_reparameterized(model_path, calib, batch_size, allow_other_model);
  model_batch_ = g.value(g.inputs.at(0)).shape.at(0);
  lowered_ = lower_to_integer(g, calib, options);
  exec_ = std::make_unique<Executor>(lowered_.graph, find_int_op);
}

IntModel::IntModel(LoweredModel lowered) : lowered_(std::move(lowered)) {
  if (lowered_.graph.inputs.size() != 1) throw Error(lowered_.graph.source + ": an integer model has one input");
  const Shape& s = lowered_.graph.value(lowered_.graph.inputs[0]).shape;
  if (s.empty()) throw Error(lowered_.graph.source + ": the integer model's input has no static shape");
  batch_ = model_batch_ = s[0];
  exec_ = std::make_unique<Executor>(lowered_.graph, find_int_op);
}

IntModel::~IntModel() = default;

Tensor IntModel::run_integer(const Tensor& images, IntRunStats* stats) {
  return run_in_chunks(images, model_batch_, [&](const Tensor& chunk, int64_t) {
           const Tensor x = chunk.cast(DType::Float32);
           // Boundary: the image to centered integer codes of the input grid.
           const QuantParams& ip = lowered_.input;
           Tensor q(DType::Int32, x.shape());
           for (int64_t i = 0; i < x.numel(); ++i) q.data<int32_t>()[i] = ip.quantize(x.data<float>()[i]) - ip.zero_point;
           return std::vector<Tensor>{std::move(exec_->run({std::move(q)}, nullptr, stats).at(0))};
         }).at(0);
}

Tensor IntModel::run(const Tensor& images, IntRunStats* stats) {
  const Tensor y = run_integer(images, stats);
  // Boundary: integer logits to real numbers, one scale per class (or one for all).
  const LoweredModel::OutputScale& s = lowered_.outputs.at(0);
  Tensor out(DType::Float32, y.shape());
  int64_t inner = 1;
  if (s.scales.size() > 1)
    for (int a = s.axis + 1; a < y.rank(); ++a) inner *= y.shape()[a];
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double sc = s.scales.size() == 1 ? s.scales[0] : s.scales[static_cast<size_t>((i / inner) % static_cast<int64_t>(s.scales.size()))];
    out.data<float>()[i] = static_cast<float>(y.data<int32_t>()[i] * sc);
  }
  return out;
}

}  // namespace qvit
