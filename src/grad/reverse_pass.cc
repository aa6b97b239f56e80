#include "grad/reverse_pass.h"

#include <algorithm>

#include "ir/executor.h"

namespace qvit {

const Tensor& BackwardCall::input(size_t i) const {
  if (i >= in.size() || !in[i]) fail("backward: forward input #" + std::to_string(i) + " is not available");
  return *in[i];
}

const Tensor& BackwardCall::output(size_t i) const {
  if (i >= out.size() || !out[i]) fail("backward: forward output #" + std::to_string(i) + " is not available");
  return *out[i];
}

Tensor BackwardCall::cotangent(size_t i) const {
  if (i < cot.size() && cot[i]) return *cot[i];
  return Tensor(DType::Float32, out_shape.at(i));
}

void BackwardCall::fail(const std::string& what) const { throw Error(node.describe() + ": " + what); }

ReversePass::ReversePass(const Graph& g, std::vector<RuleLookup> tables) : graph_(g) {
  const size_t nv = g.values.size();
  differentiable_.assign(nv, 0);
  keep_.assign(nv, 0);
  for (int in : g.inputs)
    if (g.value(in).dtype == DType::Float32) differentiable_[static_cast<size_t>(in)] = 1;
  // Forward reachability from the graph inputs, over float values.
  for (const Node& n : g.nodes) {
    const bool any = std::any_of(n.inputs.begin(), n.inputs.end(), [&](int v) { return v >= 0 && differentiable_[v]; });
    if (!any) continue;
    for (int o : n.outputs)
      if (o >= 0 && g.value(o).dtype == DType::Float32 && !g.is_constant(o)) differentiable_[static_cast<size_t>(o)] = 1;
  }
  for (const Node& n : g.nodes) {
    const bool on_path = std::any_of(n.inputs.begin(), n.inputs.end(), [&](int v) { return v >= 0 && differentiable_[v]; }) &&
                         std::any_of(n.outputs.begin(), n.outputs.end(), [&](int v) { return v >= 0 && differentiable_[v]; });
    if (!on_path) continue;
    // Integer inputs (shapes, indices, axes) are small and rules re-run forwards with them.
    for (int v : n.inputs)
      if (v >= 0 && !g.is_constant(v) && g.value(v).dtype != DType::Float32) keep_[static_cast<size_t>(v)] = 1;
    for (RuleLookup table : tables) {
      const BackwardRule* rule = table(n.op);
      if (!rule)
        throw Error(g.source + ": " + n.describe() + ": no backward rule for op type '" + n.op +
                    "' (relevance and gradients cover the ViT/Swin op set; see docs/lrp.md)");
      if (rule->needs_inputs)
        for (int v : n.inputs)
          if (v >= 0 && !g.is_constant(v)) keep_[static_cast<size_t>(v)] = 1;
      if (rule->needs_outputs)
        for (int v : n.outputs)
          if (v >= 0) keep_[static_cast<size_t>(v)] = 1;
    }
  }
}

ReversePass::Tape ReversePass::forward(std::vector<Tensor> inputs) const {
  Executor ex(graph_);
  Tape t;
  t.values = ex.run_keeping(std::move(inputs), keep_, &t.shapes);
  return t;
}

std::vector<Tensor> ReversePass::backward(const Tape& tape_in, RuleLookup rules, int output, Tensor seed,
                                          const std::vector<int>& wanted) const {
  const Graph& g = graph_;
  const std::vector<Tensor>& tape = tape_in.values;
  if (output < 0 || output >= static_cast<int>(g.outputs.size())) throw InternalError("backward: bad output index");
  const int out_id = g.outputs[static_cast<size_t>(output)];
  if (!differentiable_[static_cast<size_t>(out_id)])
    throw Error(g.source + ": output '" + g.value(out_id).name + "' does not depend on a float input");
  if (tape.size() != g.values.size() || !tape[static_cast<size_t>(out_id)].defined())
    throw InternalError("backward: the tape is not a forward() result of this graph");
  if (seed.shape() != tape[static_cast<size_t>(out_id)].shape() || seed.dtype() != DType::Float32)
    throw InternalError("backward: seed shape " + shape_str(seed.shape()) + " differs from the output's");
  std::vector<char> want(g.values.size(), 0);
  for (int v : wanted) want[static_cast<size_t>(v)] = 1;
  std::vector<Tensor> cot(g.values.size());
  cot[static_cast<size_t>(out_id)] = std::move(seed);
  std::vector<Tensor> result(wanted.size());
  auto harvest = [&](int v) {
    for (size_t k = 0; k < wanted.size(); ++k)
      if (wanted[k] == v && cot[static_cast<size_t>(v)].defined()) result[k] = cot[static_cast<size_t>(v)];
  };
  auto value_ptr = [&](int v) -> const Tensor* {
    if (v < 0) return nullptr;
    if (g.is_constant(v)) return &g.constant(v);
    return tape[static_cast<size_t>(v)].defined() ? &tape[static_cast<size_t>(v)] : nullptr;
  };
  for (size_t ni = g.nodes.size(); ni-- > 0;) {
    const Node& n = g.nodes[ni];
    bool reached = false;
    for (int o : n.outputs) reached = reached || (o >= 0 && cot[static_cast<size_t>(o)].defined());
    if (!reached) continue;
    BackwardCall call{n, g.opset, {}, {}, {}, {}, {}, {}, {}};
    bool any_want = false;
    for (int v : n.inputs) {
      call.in.push_back(value_ptr(v));
      call.in_shape.push_back(v < 0 ? Shape{} : call.in.back() ? call.in.back()->shape() : tape_in.shapes[static_cast<size_t>(v)]);
      call.constant.push_back(v >= 0 && g.is_constant(v));
      const bool w = v >= 0 && differentiable_[static_cast<size_t>(v)];
      call.wants.push_back(w);
      any_want = any_want || w;
    }
    for (int o : n.outputs) {
      call.out.push_back(value_ptr(o));
      call.out_shape.push_back(o < 0 ? Shape{} : call.out.back() ? call.out.back()->shape() : tape_in.shapes[static_cast<size_t>(o)]);
      call.cot.push_back(o >= 0 && cot[static_cast<size_t>(o)].defined() ? &cot[static_cast<size_t>(o)] : nullptr);
    }
    if (any_want) {
      const BackwardRule* rule = rules(n.op);
      if (!rule) throw Error(g.source + ": " + n.describe() + ": no backward rule for op type '" + n.op + "'");
      std::vector<Tensor> in_cot(n.inputs.size());
      try {
        rule->fn(call, in_cot);
      } catch (const Error& e) {
        const std::string where = n.describe();
        if (std::string(e.what()).find(where) != std::string::npos) throw;
        throw Error(where + ": backward: " + e.what());
      }
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const int v = n.inputs[i];
        if (!call.wants[i] || !in_cot[i].defined()) continue;
        if (in_cot[i].shape() != call.in_shape[i])
          throw InternalError(n.describe() + ": backward produced " + shape_str(in_cot[i].shape()) + " for input " +
                              shape_str(call.in_shape[i]));
        Tensor& acc = cot[static_cast<size_t>(v)];
        if (!acc.defined()) {
          acc = std::move(in_cot[i]);
        } else {
          float* a = acc.data<float>();
          const float* b = in_cot[i].data<float>();
          for (int64_t k = 0; k < acc.numel(); ++k) a[k] += b[k];
        }
      }
    }
    // Every reader of the outputs came later in topological order: their cotangents are complete
    // and no longer needed.
    for (int o : n.outputs)
      if (o >= 0) {
        if (want[static_cast<size_t>(o)]) harvest(o);
        cot[static_cast<size_t>(o)] = Tensor();
      }
  }
  for (int in : g.inputs)
    if (want[static_cast<size_t>(in)]) harvest(in);
  return result;
}

}  // namespace qvit
