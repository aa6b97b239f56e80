#include "ir/executor.h"

#include "ir/ops/packed_gemm.h"

#include <malloc.h>

#include <algorithm>
#include <mutex>
#include <string_view>

namespace qvit {

namespace {
// The executor frees and re-allocates the same large activation buffers on every forward pass;
// keep them in the heap instead of mmap/munmap (and page faults on first touch) each time.
void keep_large_buffers_in_heap() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_MAX, 0);                // no mmap'ed chunks: big buffers come from the heap and stay
    mallopt(M_TRIM_THRESHOLD, 1 << 30);    // and freed memory is kept for the next forward
  });
}
// Ops that only relabel the shape of their data input, including a Transpose that moves nothing
// but size-1 axes ([197,1,384] ↔ [1,197,384] in torchvision's attention).
bool is_pure_reshape(const Graph& g, const Node& node) {
  if (node.op == "Reshape" || node.op == "Flatten" || node.op == "Squeeze" || node.op == "Unsqueeze" || node.op == "Identity")
    return true;
  if (node.op != "Transpose" || node.inputs.empty() || node.inputs[0] < 0) return false;
  const Shape& in = g.value(node.inputs[0]).shape;
  std::vector<int64_t> perm = node.attr_ints("perm");
  if (in.empty() || perm.size() != in.size()) return false;
  int64_t last = -1;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(in.size())) return false;
    if (in[static_cast<size_t>(p)] == 1) continue;
    if (p < last) return false;
    last = p;
  }
  return true;
}

// Rethrows `e` (being handled) as an Error naming `node`. Kernels name their node in
// OpCall::fail; errors from below them (a Tensor over the size cap, a shape overflow) do not, so
// they get the node here: one line that says where.
[[noreturn]] void rethrow_naming_node(const Node& node, const Error& e) {
  const std::string where = node.describe();
  if (std::string_view(e.what()).find(where) != std::string_view::npos) throw;
  throw Error(where + ": " + e.what());
}

}  // namespace

Executor::Executor(const Graph& g, OpLookup lookup, const PrepareFn& prepare) : graph_(g) {
  keep_large_buffers_in_heap();
  kernels_.reserve(g.nodes.size());
  for (const Node& node : g.nodes) {
    OpFn fn = lookup(node.op);
    if (!fn) throw Error(g.source + ": " + node.describe() + ": unsupported op type '" + node.op + "'");
    kernels_.push_back(fn);
  }
  plain_.skip.assign(g.nodes.size(), 0);
  plain_.prepared.assign(g.nodes.size(), nullptr);
  for (const Node& node : g.nodes) {
    plain_.inputs.push_back(node.inputs);
    plain_.outputs.push_back(node.outputs);
  }
  if (prepare)
    for (size_t n = 0; n < g.nodes.size(); ++n) plain_.prepared[n] = prepare(g, g.nodes[n]);
  if (packed_gemm_available()) {
    for (size_t n = 0; n < g.nodes.size(); ++n) {
      const Node& node = g.nodes[n];
      if (node.op != "Linear" || node.inputs.size() < 2 || !g.is_constant(node.inputs[1])) continue;
      const Tensor& w = g.constant(node.inputs[1]);
      if (w.dtype() != DType::Float32 || w.rank() != 2) continue;
      plain_.prepared[n] = std::make_shared<PackedWeights>(pack_weights(w.data<float>(), w.shape()[0], w.shape()[1]));
    }
    FoldPlan fold = plan_matmul_folding(g);
    if (fold.folded_nodes > 0) {
      Plan p;
      p.skip = std::move(fold.skip);
      p.inputs = std::move(fold.inputs);
      p.outputs = std::move(fold.outputs);
      p.prepared = plain_.prepared;
      for (size_t n = 0; n < g.nodes.size(); ++n)
        if (fold.matmul[n]) p.prepared[n] = fold.matmul[n];
      folded_ = std::move(p);
    }
  }
  finish_plan(plain_);
  if (folded_) finish_plan(*folded_);
}

void Executor::finish_plan(Plan& p) const {
  const Graph& g = graph_;
  const int n_nodes = static_cast<int>(g.nodes.size());
  std::vector<int> last_use(g.values.size(), -1);
  for (int n = 0; n < n_nodes; ++n)
    if (!p.skip[n])
      for (int in : p.inputs[n])
        if (in >= 0) last_use[in] = n;
  for (int o : g.outputs) last_use[o] = n_nodes;
  p.free_after.assign(g.nodes.size(), {});
  for (size_t v = 0; v < g.values.size(); ++v)
    if (last_use[v] >= 0 && last_use[v] < n_nodes && !g.is_constant(static_cast<int>(v)))
      p.free_after[last_use[v]].push_back(static_cast<int>(v));
  p.reshape_in_place.assign(g.nodes.size(), 0);
  for (int n = 0; n < n_nodes; ++n) {
    const Node& node = g.nodes[n];
    if (p.skip[n] || !is_pure_reshape(g, node) || p.inputs[n].empty() || p.inputs[n][0] < 0 || p.outputs[n].size() != 1) continue;
    const int in = p.inputs[n][0];
    const bool dies_here = last_use[in] == n && std::count(p.inputs[n].begin(), p.inputs[n].end(), in) == 1 &&
                           !g.is_constant(in);
    // Static output shape known (after import's folding) and the same element count.
    const Shape& os = g.value(p.outputs[n][0]).shape;
    if (dies_here && !os.empty() && shape_numel(os) == shape_numel(g.value(in).shape) && !g.value(in).shape.empty())
      p.reshape_in_place[n] = 1;
  }
}

void check_inputs(const Graph& g, const std::vector<Tensor>& inputs) {
  if (inputs.size() != g.inputs.size())
    throw Error(g.source + ": model takes " + std::to_string(g.inputs.size()) + " input(s), got " +
                std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = g.value(g.inputs[i]);
    if (inputs[i].dtype() != v.dtype)
      throw Error(g.source + ": input '" + v.name + "' must be " + dtype_name(v.dtype) + ", got " +
                  dtype_name(inputs[i].dtype()));
    if (!v.shape.empty() && inputs[i].shape() != v.shape)
      throw Error(g.source + ": input '" + v.name + "' must have shape " + shape_str(v.shape) + ", got " +
                  shape_str(inputs[i].shape()));
  }
}

std::vector<Tensor> Executor::run(std::vector<Tensor> inputs, ValueObserver* observer, void* context) const {
  return execute(std::move(inputs), observer, false, context);
}

std::vector<Tensor> Executor::run_all(std::vector<Tensor> inputs, ValueObserver* observer) const {
  return execute(std::move(inputs), observer, true, nullptr);
}

std::vector<Tensor> Executor::run_keeping(std::vector<Tensor> inputs, const std::vector<char>& keep,
                                          std::vector<Shape>* shapes) const {
  if (keep.size() != graph_.values.size()) throw InternalError("run_keeping: keep mask does not match the graph");
  return execute(std::move(inputs), nullptr, false, nullptr, &keep, shapes);
}

std::vector<Tensor> Executor::execute(std::vector<Tensor> inputs, ValueObserver* observer, bool keep_all,
                                      void* context, const std::vector<char>* keep, std::vector<Shape>* shapes) const {
  const Graph& g = graph_;
  check_inputs(g, inputs);
  std::vector<Tensor> env(g.values.size());
  std::vector<const Tensor*> ptr(g.values.size(), nullptr);
  for (size_t v = 0; v < g.values.size(); ++v)
    if (g.values[v].constant) ptr[v] = &*g.values[v].constant;
  if (shapes) {
    shapes->assign(g.values.size(), Shape{});
    for (size_t v = 0; v < g.values.size(); ++v)
      if (g.values[v].constant) (*shapes)[v] = g.values[v].constant->shape();
    for (size_t i = 0; i < inputs.size(); ++i) (*shapes)[g.inputs[i]] = inputs[i].shape();
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    env[g.inputs[i]] = std::move(inputs[i]);
    ptr[g.inputs[i]] = &env[g.inputs[i]];
  }
  // Observers and callers of run_all see every value, so only plain inference runs folded.
  const Plan& plan = folded_ && !observer && !keep_all && !keep ? *folded_ : plain_;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    if (plan.skip[n]) continue;
    const Node& node = g.nodes[n];
    const std::vector<int>& inputs = plan.inputs[n];
    const std::vector<int>& outputs = plan.outputs[n];
    OpCall call{node, {}, g.opset, plan.prepared[n].get(), context};
    call.in.reserve(inputs.size());
    for (int in : inputs) {
      // An optional output its producer does not compute (the model decides which are read).
      if (in >= 0 && !ptr[in])
        throw Error(g.source + ": " + node.describe() + ": input '" + g.value(in).name + "' is not computed by its producer");
      call.in.push_back(in >= 0 ? ptr[in] : nullptr);
    }
    // Every kernel writes out[0]; a node without outputs is malformed (the ONNX checker rejects
    // them, graphs built in memory might not).
    if (outputs.empty()) throw Error(g.source + ": " + node.describe() + " has no outputs");
    std::vector<Tensor> outs(outputs.size());
    const int in0 = inputs.empty() ? -1 : inputs[0];
    // (Not when the input must survive: run_all returns every value, run_keeping the kept ones.)
    if (plan.reshape_in_place[n] && !keep_all && ptr[in0] == &env[in0] && env[in0].shape() == g.value(in0).shape &&
        !(keep && (*keep)[static_cast<size_t>(in0)])) {
      outs[0] = std::move(env[in0]).reshaped(g.value(outputs[0]).shape);
      ptr[in0] = nullptr;
    } else {
      try {
        kernels_[n](call, outs);
      } catch (const Error& e) {
        rethrow_naming_node(node, e);
      }
    }
    for (size_t k = 0; k < outs.size(); ++k) {
      const int id = outputs[k];
      if (id < 0) continue;
      if (!outs[k].defined()) continue;  // optional output the kernel does not produce
      env[id] = std::move(outs[k]);
      ptr[id] = &env[id];
      if (shapes) (*shapes)[id] = env[id].shape();
      if (observer) observer->on_value(g, id, env[id]);
    }
    if (!keep_all)
      for (int v : plan.free_after[n]) {
        if (keep && (*keep)[static_cast<size_t>(v)]) continue;
        env[v] = Tensor();
        ptr[v] = nullptr;
      }
  }
  if (keep_all) {
    for (size_t v = 0; v < g.values.size(); ++v)
      if (g.values[v].constant) env[v] = *g.values[v].constant;
    return env;
  }
  if (keep) {
    for (int o : g.outputs)
      if (!ptr[o]) throw Error(g.source + ": output '" + g.value(o).name + "' was not computed");
    return env;
  }
  std::vector<Tensor> result;
  for (int o : g.outputs) {
    if (!ptr[o]) throw Error(g.source + ": output '" + g.value(o).name + "' was not computed");
    result.push_back(ptr[o] == &env[o] ? std::move(env[o]) : *ptr[o]);
  }
  return result;
}

}  // namespace qvit
