#include "runtime/float_model.h"

#include "onnx/onnx_import.h"
#include "runtime/batch_padding.h"

namespace qvit {

FloatModel::FloatModel(std::string path, int64_t batch_size) : path_(std::move(path)), batch_size_(batch_size) {
  if (batch_size_ < 1) throw Error("batch size must be >= 1");
  ImportOptions opt;
  opt.batch = batch_size_;
  graph_ = std::make_unique<Graph>(import_onnx(path_, opt));
  if (graph_->inputs.size() != 1 || graph_->outputs.size() < 1)
    throw Error(path_ + ": expected a classifier with one input and a logits output");
  const Shape& in = graph_->value(graph_->inputs[0]).shape;
  if (in.empty()) throw Error(path_ + ": the model input has no batch dimension");
  model_batch_ = in[0];
  executor_ = std::make_unique<Executor>(*graph_);
}

Tensor FloatModel::run(const Tensor& images, ValueObserver* observer) {
  const int64_t n = images.rank() > 0 ? images.shape()[0] : 0;
  if (n < 1 || n > batch_size_) throw InternalError("FloatModel::run: batch of " + std::to_string(n));
  const Shape& want = graph_->value(graph_->inputs[0]).shape;
  Shape got_full = images.shape();
  got_full[0] = model_batch_;
  if (got_full != want)
    throw Error(path_ + ": model input '" + graph_->value(graph_->inputs[0]).name + "' has shape " + shape_str(want) +
                " but the data gives images of shape " + shape_str(images.shape()) + " (check --config)");
  return run_in_chunks(images, model_batch_, [&](const Tensor& chunk, int64_t) {
           return std::vector<Tensor>{std::move(executor_->run({chunk}, observer).at(0))};
         }).at(0);
}

}  // namespace qvit
