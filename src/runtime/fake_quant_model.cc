#include "runtime/fake_quant_model.h"

#include <cmath>
#include <cstring>
#include <algorithm>
#include <map>
#include <vector>

#include "runtime/reparameterized_graph.h"
#include "runtime/batch_padding.h"
#include "util/thread_pool.h"

namespace qvit {

double LayerError::sqnr_db() const {
  if (noise <= 0) return 200.0;  // exact: report a large finite number rather than inf in JSON
  if (signal <= 0) return -200.0;
  return 10.0 * std::log10(signal / noise);
}

namespace {

int node_index(const Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name == name) return static_cast<int>(i);
  throw Error(g.source + ": calibration refers to node '" + name + "', which this model does not have");
}

struct QuantPointRt {
  int value;
  QuantParams params;
  size_t error_index;
};

// Fake-quantizes listed values as they are produced; optionally compares with float values.
class FakeQuantTap : public ValueObserver {
 public:
  const std::map<int, QuantPointRt>* points = nullptr;
  const std::vector<Tensor>* reference = nullptr;  // float run's values by id (may be empty tensors)
  std::vector<LayerError>* errors = nullptr;
  int64_t valid_fraction_num = 1, valid_fraction_den = 1;  // real rows / batch rows

  void on_value(const Graph&, int id, Tensor& t) override {
    auto it = points->find(id);
    if (it == points->end()) return;
    fake_quant(t.data<float>(), t.numel(), it->second.params);
    if (errors && reference && (*reference)[id].defined()) {
      const float* x = (*reference)[id].data<float>();
      const float* q = t.data<float>();
      const int64_t n = t.numel() / valid_fraction_den * valid_fraction_num;
      // Sums per fixed block of elements, in parallel, then added in block order: the same total
      // for any thread count.
      constexpr int64_t kBlock = 8192;
      const int64_t blocks = (n + kBlock - 1) / kBlock;
      std::vector<double> partial(static_cast<size_t>(2 * blocks), 0.0);
      parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          double s = 0, e = 0;
          for (int64_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i) {
            s += double(x[i]) * x[i];
            e += (double(x[i]) - q[i]) * (double(x[i]) - q[i]);
          }
          partial[2 * b] = s;
          partial[2 * b + 1] = e;
        }
      });
      double s = 0, e = 0;
      for (int64_t b = 0; b < blocks; ++b) {
        s += partial[2 * b];
        e += partial[2 * b + 1];
      }
      (*errors)[it->second.error_index].signal += s;
      (*errors)[it->second.error_index].noise += e;
    }
  }
};

// Keeps copies of the float values at the quantization points.
class CaptureTap : public ValueObserver {
 public:
  std::vector<Tensor>* store = nullptr;
  const std::map<int, QuantPointRt>* points = nullptr;
  void on_value(const Graph&, int id, Tensor& t) override {
    if (points->count(id)) (*store)[id] = t;
  }
};

}  // namespace

struct FakeQuantModel::Impl {
  Graph float_graph, quant_graph;
  std::unique_ptr<Executor> float_exec, quant_exec;
  std::map<int, QuantPointRt> points;
  std::vector<LayerError> error_template;
};

FakeQuantModel::FakeQuantModel(const std::string& model_path, const CalibrationResult& calib, int64_t batch_size,
                               bool allow_other_model)
    : impl_(std::make_unique<Impl>()), batch_(batch_size) {
  Graph g = load_reparameterized(model_path, calib, batch_size, allow_other_model);
  impl_->float_graph = g;
  // Weights → their quantized values.
  for (const auto& w : calib.weights) {
    const int n = node_index(g, w.node);
    Node& node = g.nodes[n];
    Tensor wt = g.constant(node.inputs[1]);
    const int axis = w.params.axis;
    if (axis >= wt.rank() || wt.shape()[axis] != static_cast<int64_t>(w.params.scale.size()))
      throw Error(model_path + ": " + node.describe() + ": calibration has " + std::to_string(w.params.scale.size()) +
                  " weight channels, the model " + (axis < wt.rank() ? std::to_string(wt.shape()[axis]) : std::string("none")));
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < axis; ++a) outer *= wt.shape()[a];
    for (int a = axis + 1; a < wt.rank(); ++a) inner *= wt.shape()[a];
    fake_quant_channels(wt.data<float>(), outer, wt.shape()[axis], inner, w.params);
    node.inputs[1] = g.add_constant(node.name + ".weight.fakequant", std::move(wt));
  }
  g.rebuild_index();
  for (const auto& a : calib.activations) {
    const int id = g.find_value(a.value);
    if (id < 0) throw Error(model_path + ": calibration quantizes tensor '" + a.value + "', which this model does not have");
    impl_->points[id] = {id, a.params, impl_->error_template.size()};
    impl_->error_template.push_back({a.value, a.role, a.params.bits, 0, 0});
  }
  model_batch_ = g.value(g.inputs.at(0)).shape.at(0);
  impl_->quant_graph = std::move(g);
  impl_->float_exec = std::make_unique<Executor>(impl_->float_graph);
  impl_->quant_exec = std::make_unique<Executor>(impl_->quant_graph);
}

FakeQuantModel::~FakeQuantModel() = default;

std::vector<LayerError> FakeQuantModel::empty_errors() const { return impl_->error_template; }

FakeQuantModel::Output FakeQuantModel::run(const Tensor& images, std::vector<LayerError>* errors) {
  std::vector<Tensor> both = run_in_chunks(images, model_batch_, [&](const Tensor& input, int64_t valid) {
    std::vector<Tensor> captured(impl_->float_graph.values.size());
    CaptureTap capture;
    capture.store = &captured;
    capture.points = &impl_->points;
    const int in_id = impl_->float_graph.inputs[0];
    if (impl_->points.count(in_id)) captured[in_id] = input;
    Tensor float_logits = std::move(impl_->float_exec->run({input}, errors ? &capture : nullptr).at(0));
    FakeQuantTap tap;
    tap.points = &impl_->points;
    tap.reference = errors ? &captured : nullptr;
    tap.errors = errors;
    tap.valid_fraction_num = valid;
    tap.valid_fraction_den = model_batch_;
    Tensor quantized_input = input;
    if (impl_->points.count(in_id)) tap.on_value(impl_->quant_graph, in_id, quantized_input);
    Tensor quantized_logits = std::move(impl_->quant_exec->run({std::move(quantized_input)}, &tap).at(0));
    return std::vector<Tensor>{std::move(quantized_logits), std::move(float_logits)};
  });
  return {std::move(both.at(0)), std::move(both.at(1))};
}

Tensor FakeQuantModel::run_quantized(const Tensor& images) {
  return run_in_chunks(images, model_batch_, [&](const Tensor& chunk, int64_t) {
           Tensor input = chunk;
           FakeQuantTap tap;
           tap.points = &impl_->points;
           const int in_id = impl_->quant_graph.inputs[0];
           if (impl_->points.count(in_id)) tap.on_value(impl_->quant_graph, in_id, input);
           return std::vector<Tensor>{std::move(impl_->quant_exec->run({std::move(input)}, &tap).at(0))};
         }).at(0);
}

}  // namespace qvit
