#include "ir/matmul_fold.h"

#include <algorithm>

namespace qvit {

namespace {

bool is_data_movement(const std::string& op) {
  return op == "Transpose" || op == "Reshape" || op == "Slice" || op == "Squeeze" || op == "Unsqueeze" ||
         op == "Flatten" || op == "Identity";
}

bool is_graph_output(const Graph& g, int v) { return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end(); }

// For Div(x, c) / Mul(x, c) / Mul(c, x) with c a float scalar constant: the index of x and the factor.
std::optional<std::pair<size_t, float>> scalar_scale(const Graph& g, const Node& node) {
  if ((node.op != "Div" && node.op != "Mul") || node.inputs.size() != 2 || node.outputs.size() != 1) return std::nullopt;
  if (node.inputs[0] < 0 || node.inputs[1] < 0 || node.outputs[0] < 0) return std::nullopt;
  for (size_t ci = 0; ci < 2; ++ci) {
    const int c = node.inputs[ci];
    if (!g.is_constant(c) || g.constant(c).numel() != 1 || g.constant(c).dtype() != DType::Float32) continue;
    if (node.op == "Div" && ci != 1) continue;
    const float v = g.constant(c).data<float>()[0];
    if (node.op == "Div" && v == 0.0f) return std::nullopt;
    const size_t xi = 1 - ci;
    if (g.value(node.inputs[xi]).shape != g.value(node.outputs[0]).shape) return std::nullopt;
    return std::make_pair(xi, node.op == "Div" ? 1.0f / v : v);
  }
  return std::nullopt;
}

// True if perm holds each of 0 .. rank-1 once (the graph's attribute is model data).
bool is_permutation_of_rank(const std::vector<int64_t>& perm, size_t rank) {
  if (perm.size() != rank) return false;
  std::vector<char> seen(rank, 0);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(p)]) return false;
    seen[static_cast<size_t>(p)] = 1;
  }
  return true;
}

struct Operand {
  int source = -1;
  StridedView view;
  float alpha = 1.0f;
  std::vector<int> skipped;  // chain nodes no longer executed
};

// Traces MatMul input `value` back through single-reader data-movement (and at most one scalar
// scale) nodes, then views the source through them; where a step cannot be a view, the chain
// restarts after it (that node still runs and its output becomes the source).
struct Index {
  std::vector<int> producer;               // per value, -1 for inputs and constants
  std::vector<std::vector<int>> readers;   // per value: reading nodes (once per node)
};

Index index_of(const Graph& g) {
  Index ix;
  ix.producer.assign(g.values.size(), -1);
  ix.readers.resize(g.values.size());
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    for (int o : g.nodes[n].outputs)
      if (o >= 0) ix.producer[o] = static_cast<int>(n);
    for (int i : g.nodes[n].inputs)
      if (i >= 0 && (ix.readers[i].empty() || ix.readers[i].back() != static_cast<int>(n)))
        ix.readers[i].push_back(static_cast<int>(n));
  }
  return ix;
}

Operand trace_operand(const Graph& g, const Index& ix, int value, bool need_unit_inner_stride) {
  std::vector<int> chain;  // MatMul side first
  int cur = value;
  bool scaled = false;
  while (true) {
    const int p = ix.producer[cur];
    if (p < 0 || is_graph_output(g, cur) || ix.readers[cur].size() != 1) break;
    const Node& node = g.nodes[p];
    if (node.outputs.size() != 1 || node.inputs.empty() || node.inputs[0] < 0) break;
    if (is_data_movement(node.op)) {
      chain.push_back(p);
      cur = node.inputs[0];
    } else if (auto s = scalar_scale(g, node); s && !scaled) {
      scaled = true;
      chain.push_back(p);
      cur = node.inputs[s->first];
    } else {
      break;
    }
  }
  std::reverse(chain.begin(), chain.end());  // source side first
  Operand op;
  size_t start = 0;
  while (true) {
    op = Operand{};
    op.source = start == 0 ? cur : g.nodes[chain[start - 1]].outputs[0];
    op.view = StridedView::contiguous(g.value(op.source).shape);
    size_t failed = chain.size();
    for (size_t i = start; i < chain.size(); ++i) {
      const Node& node = g.nodes[chain[i]];
      if (auto s = scalar_scale(g, node)) {
        op.alpha *= s->second;
      } else if (auto v = view_through(g, node, op.view)) {
        op.view = std::move(*v);
      } else {
        failed = i;
        break;
      }
      op.skipped.push_back(chain[i]);
    }
    if (failed == chain.size()) break;
    start = failed + 1;
  }
  if (need_unit_inner_stride && op.view.shape.back() > 1 && op.view.strides.back() != 1)
    return Operand{value, StridedView::contiguous(g.value(value).shape), 1.0f, {}};
  return op;
}

}  // namespace

FoldPlan plan_matmul_folding(const Graph& g) {
  const size_t n_nodes = g.nodes.size();
  FoldPlan plan;
  plan.skip.assign(n_nodes, 0);
  plan.matmul.assign(n_nodes, nullptr);
  plan.inputs.resize(n_nodes);
  plan.outputs.resize(n_nodes);
  for (size_t n = 0; n < n_nodes; ++n) {
    plan.inputs[n] = g.nodes[n].inputs;
    plan.outputs[n] = g.nodes[n].outputs;
  }
  const Index ix = index_of(g);
  for (size_t n = 0; n < n_nodes; ++n) {
    const Node& node = g.nodes[n];
    if (node.op != "MatMul" || node.inputs.size() != 2 || node.outputs.size() != 1) continue;
    // (An omitted operand is the kernel's error to report; there is nothing to view.)
    if (node.inputs[0] < 0 || node.inputs[1] < 0 || node.outputs[0] < 0) continue;
    const Shape& sa = g.value(node.inputs[0]).shape;
    const Shape& sb = g.value(node.inputs[1]).shape;
    const Shape& sy = g.value(node.outputs[0]).shape;
    if (sa.size() < 3 || sa.size() != sb.size() || sy.size() != sa.size() || g.value(node.inputs[0]).dtype != DType::Float32 ||
        !std::equal(sa.begin(), sa.end() - 2, sb.begin()) || sa.back() != sb[sb.size() - 2])
      continue;
    // Empty products stay with the plain kernel (the packed GEMM is not asked about k = 0).
    if (shape_numel(sa) == 0 || shape_numel(sb) == 0 || shape_numel(sy) == 0) continue;
    Operand a = trace_operand(g, ix, node.inputs[0], true);
    Operand b = trace_operand(g, ix, node.inputs[1], false);
    auto folded = std::make_shared<FoldedMatMul>();
    folded->a = a.view;
    folded->b = b.view;
    folded->alpha = a.alpha * b.alpha;
    folded->y = StridedView::contiguous(sy);
    folded->y_shape = sy;
    int out = node.outputs[0];
    // A Transpose that keeps the last axis and is the output's only reader: write through it.
    if (!is_graph_output(g, out) && ix.readers[out].size() == 1) {
      const int t = ix.readers[out][0];
      const Node& tn = g.nodes[t];
      const std::vector<int64_t> perm = tn.op == "Transpose" ? tn.attr_ints("perm") : std::vector<int64_t>{};
      if (tn.op == "Transpose" && tn.outputs.size() == 1 && tn.outputs[0] >= 0 && is_permutation_of_rank(perm, sy.size()) &&
          g.value(tn.outputs[0]).shape.size() == sy.size() && perm.back() == static_cast<int64_t>(sy.size()) - 1) {
        const Shape& ts = g.value(tn.outputs[0]).shape;
        const std::vector<int64_t> ts_strides = strides_of(ts);
        for (size_t i = 0; i < perm.size(); ++i) folded->y.strides[static_cast<size_t>(perm[i])] = ts_strides[i];
        folded->y_shape = ts;
        plan.skip[t] = 1;
        ++plan.folded_nodes;
        out = tn.outputs[0];
      }
    }
    for (int s : a.skipped) plan.skip[s] = 1;
    for (int s : b.skipped) plan.skip[s] = 1;
    plan.folded_nodes += static_cast<int>(a.skipped.size() + b.skipped.size());
    plan.inputs[n] = {a.source, b.source};
    plan.outputs[n] = {out};
    plan.matmul[n] = std::move(folded);
  }
  return plan;
}

}  // namespace qvit
