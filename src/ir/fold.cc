#include "ir/fold.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <optional>

#include "ir/executor.h"
#include "ir/op_registry.h"

namespace qvit {
namespace {

bool is_shape_query(const Node& node) { return node.op == "Shape" || node.op == "Size"; }

// What one run on zero inputs saw: every produced value's type and shape, and copies of the
// values that cannot depend on input data.
struct Probe {
  std::vector<char> produced;
  std::vector<DType> dtypes;
  std::vector<Shape> shapes;
  std::vector<Tensor> statics;
};

class ProbeRecorder : public ValueObserver {
 public:
  ProbeRecorder(const std::vector<char>& is_static, Probe& probe) : is_static_(is_static), probe_(probe) {}
  void on_value(const Graph&, int id, Tensor& t) override {
    probe_.produced[id] = 1;
    probe_.dtypes[id] = t.dtype();
    probe_.shapes[id] = t.shape();
    if (is_static_[id]) probe_.statics[id] = t;
  }

 private:
  const std::vector<char>& is_static_;
  Probe& probe_;
};

Probe run_probe(Graph& g, const std::vector<char>& is_static, const std::vector<Shape>& input_shapes) {
  std::vector<Tensor> zeros;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    g.value(g.inputs[i]).shape = input_shapes[i];
    zeros.emplace_back(g.value(g.inputs[i]).dtype, input_shapes[i]);
  }
  Probe p;
  p.produced.assign(g.values.size(), 0);
  p.dtypes.assign(g.values.size(), DType::Float32);
  p.shapes.assign(g.values.size(), {});
  p.statics.assign(g.values.size(), {});
  ProbeRecorder rec(is_static, p);
  Executor(g).run(std::move(zeros), &rec);
  return p;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  // (memcmp of an empty tensor would pass it null pointers.)
  return a.dtype() == b.dtype() && a.shape() == b.shape() && (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

// f(1), f(2), f(3) → f(batch) when f is affine in the batch; nullopt otherwise, and when the
// extrapolation overflows (folded integers are model data: any int64 can appear).
std::optional<int64_t> affine_at(int64_t f1, int64_t f2, int64_t f3, int64_t batch) {
  int64_t d21 = 0, d32 = 0, step = 0, r = 0;
  if (__builtin_sub_overflow(f2, f1, &d21) || __builtin_sub_overflow(f3, f2, &d32) || d32 != d21) return std::nullopt;
  if (__builtin_mul_overflow(d21, batch - 1, &step) || __builtin_add_overflow(f1, step, &r)) return std::nullopt;
  return r;
}

std::optional<Shape> affine_shape(const Shape& s1, const Shape& s2, const Shape& s3, int64_t batch) {
  if (s1.size() != s2.size() || s1.size() != s3.size()) return std::nullopt;
  Shape out(s1.size());
  for (size_t i = 0; i < s1.size(); ++i) {
    const auto d = affine_at(s1[i], s2[i], s3[i], batch);
    if (!d || *d < 0) return std::nullopt;
    out[i] = *d;
  }
  return out;
}

// An Int64/Int32 tensor of the same shape in all three probes, evaluated element-wise at `batch`.
std::optional<Tensor> affine_tensor(const Tensor& t1, const Tensor& t2, const Tensor& t3, int64_t batch) {
  if (t1.dtype() != t2.dtype() || t1.dtype() != t3.dtype() || t1.shape() != t2.shape() || t1.shape() != t3.shape())
    return std::nullopt;
  if (t1.dtype() != DType::Int64 && t1.dtype() != DType::Int32) return std::nullopt;
  const auto a = t1.as_int64s(), b = t2.as_int64s(), c = t3.as_int64s();
  Tensor out(t1.dtype(), t1.shape());
  for (size_t i = 0; i < a.size(); ++i) {
    const auto v = affine_at(a[i], b[i], c[i], batch);
    if (!v) return std::nullopt;
    if (t1.dtype() == DType::Int64) {
      out.data<int64_t>()[i] = *v;
    } else {
      if (*v < INT32_MIN || *v > INT32_MAX) return std::nullopt;
      out.data<int32_t>()[i] = static_cast<int32_t>(*v);
    }
  }
  return out;
}

// Per value, what the folded graph gets: its type and shape at the run batch, and its data if
// it becomes a constant.
struct FoldedValue {
  bool produced = false;
  DType dtype = DType::Float32;
  Shape shape;
  std::optional<Tensor> constant;
};

// Exactly what one probe at the run batch saw.
std::vector<FoldedValue> from_exact_probe(Probe p) {
  std::vector<FoldedValue> out(p.produced.size());
  for (size_t v = 0; v < out.size(); ++v) {
    if (!p.produced[v]) continue;
    out[v].produced = true;
    out[v].dtype = p.dtypes[v];
    out[v].shape = p.shapes[v];
    if (p.statics[v].defined()) out[v].constant = std::move(p.statics[v]);
  }
  return out;
}

// Probes at batches 1, 2, 3 evaluated at `batch`; nullopt when something is not affine in it.
std::optional<std::vector<FoldedValue>> from_affine_probes(const Probe& p1, const Probe& p2, const Probe& p3,
                                                           int64_t batch) {
  std::vector<FoldedValue> out(p1.produced.size());
  for (size_t v = 0; v < out.size(); ++v) {
    if (!p1.produced[v]) continue;
    if (!p2.produced[v] || !p3.produced[v] || p1.dtypes[v] != p2.dtypes[v] || p1.dtypes[v] != p3.dtypes[v])
      return std::nullopt;
    auto shape = affine_shape(p1.shapes[v], p2.shapes[v], p3.shapes[v], batch);
    if (!shape) return std::nullopt;
    out[v].produced = true;
    out[v].dtype = p1.dtypes[v];
    out[v].shape = std::move(*shape);
    const Tensor& t1 = p1.statics[v];
    if (!t1.defined()) continue;
    if (same_tensor(t1, p2.statics[v]) && same_tensor(t1, p3.statics[v]))
      out[v].constant = t1;
    else if (auto t = affine_tensor(t1, p2.statics[v], p3.statics[v], batch))
      out[v].constant = std::move(*t);
    // Otherwise (a batch-shaped or batch-valued float tensor): left unfolded, its node runs.
  }
  return out;
}

bool all_inputs_constant(const Graph& g, const Node& node) {
  for (int in : node.inputs)
    if (in >= 0 && !g.value(in).constant) return false;
  return true;
}

// Static nodes evaluated at the run batch stay small (a class token [B,1,D]); a larger one stays a
// node, so folding never allocates more than this at once.
constexpr int64_t kMaxEvaluatedBytes = 64 << 20;

// Bytes of the node's outputs at the run batch, saturating at INT64_MAX (extrapolated shapes can
// be arbitrarily large; such a node is simply not evaluated).
int64_t output_bytes(const Node& node, const std::vector<FoldedValue>& folded) {
  int64_t bytes = 0;
  for (int o : node.outputs) {
    if (o < 0 || !folded[o].produced) continue;
    int64_t n = 1, b = 0;
    for (int64_t d : folded[o].shape)
      if (__builtin_mul_overflow(n, d, &n)) return INT64_MAX;
    if (__builtin_mul_overflow(n, static_cast<int64_t>(dtype_size(folded[o].dtype)), &b) ||
        __builtin_add_overflow(bytes, b, &bytes))
      return INT64_MAX;
  }
  return bytes;
}

// Runs one node on its constant inputs; its outputs' data become the folded constants.
void evaluate_node(const Graph& g, const Node& node, std::vector<FoldedValue>& folded) {
  OpFn fn = find_op(node.op);
  if (!fn) throw InternalError(node.describe() + ": folded op without a kernel");
  if (node.outputs.empty()) throw Error(g.source + ": " + node.describe() + " has no outputs");
  OpCall call{node, {}, g.opset};
  for (int in : node.inputs) call.in.push_back(in >= 0 ? &g.constant(in) : nullptr);
  std::vector<Tensor> outs(node.outputs.size());
  try {
    fn(call, outs);
  } catch (const Error& e) {
    // Named like the executor's errors (kernels name their node; a Tensor over the cap does not).
    if (std::string(e.what()).find(node.describe()) != std::string::npos) throw;
    throw Error(node.describe() + ": " + e.what());
  }
  for (size_t k = 0; k < outs.size(); ++k) {
    const int o = node.outputs[k];
    if (o < 0 || !outs[k].defined()) continue;
    // The model decides this (a shape that is affine at batches 1–3 but not beyond, like a Slice
    // ending at 3), so it is an error of the input, not of qvit.
    if (outs[k].shape() != folded[o].shape)
      throw Error(g.source + ": " + node.describe() + ": at the run batch this node gives shape " + shape_str(outs[k].shape()) +
                  ", not the " + shape_str(folded[o].shape) + " extrapolated from batches 1-3; pass a static input shape");
    folded[o].produced = true;
    folded[o].constant = std::move(outs[k]);
  }
}

}  // namespace

void fold_constants(Graph& g, const FoldOptions& options) {
  // A value is static if it cannot change with the input data.
  std::vector<char> is_static(g.values.size(), 0), node_static(g.nodes.size(), 0);
  for (size_t v = 0; v < g.values.size(); ++v) is_static[v] = g.values[v].constant.has_value();
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const Node& node = g.nodes[n];
    bool st = is_shape_query(node);
    if (!st) {
      st = true;
      for (int in : node.inputs)
        if (in >= 0 && !is_static[in]) st = false;
    }
    node_static[n] = st;
    for (int o : node.outputs)
      if (o >= 0) is_static[o] = st;
  }

  std::vector<Shape> run_shapes;
  for (int id : g.inputs) run_shapes.push_back(g.value(id).shape);
  int64_t batch = 0;
  for (int pos : options.dynamic_batch_inputs) {
    const Shape& s = run_shapes.at(static_cast<size_t>(pos));
    if (s.empty() || (batch && s[0] != batch)) throw InternalError("fold: inconsistent dynamic batch");
    batch = s[0];
  }
  std::optional<std::vector<FoldedValue>> folded;
  if (batch > 3) {
    // A model declared dynamic may still hard-code its export batch somewhere (a Reshape to
    // [32, ...]): a probe that fails is not an error of the model at the run batch.
    try {
      std::vector<Probe> probes;
      for (int64_t b = 1; b <= 3; ++b) {
        std::vector<Shape> shapes = run_shapes;
        for (int pos : options.dynamic_batch_inputs) shapes[static_cast<size_t>(pos)][0] = b;
        probes.push_back(run_probe(g, is_static, shapes));
      }
      folded = from_affine_probes(probes[0], probes[1], probes[2], batch);
      if (!folded) spdlog::debug("{}: shapes are not affine in the batch; folding at batch {}", g.source, batch);
    } catch (const Error& e) {
      spdlog::debug("{}: probing batches 1-3 failed ({}); folding at batch {}", g.source, e.what(), batch);
    }
  }
  if (!folded) folded = from_exact_probe(run_probe(g, is_static, run_shapes));
  for (size_t i = 0; i < g.inputs.size(); ++i) g.value(g.inputs[i]).shape = run_shapes[i];

  std::vector<Node> kept;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    Node& node = g.nodes[n];
    // Folded: static, reading only constants (a shape query reads only its input's shape), and
    // every output it produces became a constant.
    bool fold = node_static[n];
    if (!is_shape_query(node))
      for (int in : node.inputs)
        if (in >= 0 && !g.value(in).constant) fold = false;
    for (int o : node.outputs)
      if (o >= 0 && (*folded)[o].produced && !(*folded)[o].constant) fold = false;
    // A static node the probes could not fold (its output is shaped by the batch, like an
    // expanded class token) reads only constants by now: evaluate it once at the run batch.
    if (!fold && node_static[n] && !is_shape_query(node) && all_inputs_constant(g, node) &&
        output_bytes(node, *folded) <= kMaxEvaluatedBytes) {
      evaluate_node(g, node, *folded);
      fold = true;
    }
    for (int o : node.outputs) {
      if (o < 0 || !(*folded)[o].produced) continue;
      Value& v = g.value(o);
      FoldedValue& f = (*folded)[o];
      v.dtype = f.dtype;
      v.shape = f.shape;
      if (fold) {
        v.constant = std::move(*f.constant);
        v.producer = -1;
      }
    }
    if (!fold) kept.push_back(std::move(node));
  }
  g.nodes = std::move(kept);
  g.rebuild_index();
  g.remove_dead_nodes();
}

}  // namespace qvit
