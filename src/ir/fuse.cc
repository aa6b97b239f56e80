#include "ir/fuse.h"

#include <cmath>
#include <map>

namespace qvit {
namespace {

class Fuser {
 public:
  explicit Fuser(Graph& g) : g_(g), dead_(g.nodes.size(), 0) { g_.rebuild_index(); }

  void run() {
    for (size_t n = 0; n < g_.nodes.size(); ++n) {
      if (dead_[n]) continue;
      const std::string& op = g_.nodes[n].op;
      if (op == "Div") match_layernorm(static_cast<int>(n));
      else if (op == "LayerNormalization") convert_layernormalization(static_cast<int>(n));
      else if (op == "Erf") match_gelu(static_cast<int>(n));
      else if (op == "MatMul") match_matmul_linear(static_cast<int>(n));
      else if (op == "Gemm") match_gemm_linear(static_cast<int>(n));
    }
    std::vector<Node> nodes;
    for (size_t n = 0; n < g_.nodes.size(); ++n) {
      if (auto it = replacement_.find(static_cast<int>(n)); it != replacement_.end()) nodes.push_back(std::move(it->second));
      else if (!dead_[n]) nodes.push_back(std::move(g_.nodes[n]));
    }
    g_.nodes = std::move(nodes);
    g_.rebuild_index();
    g_.remove_dead_nodes();
  }

 private:
  // The live node producing value v, if it has op type `op`.
  const Node* producer(int v, const char* op, int* index = nullptr) const {
    if (v < 0) return nullptr;
    const int p = g_.value(v).producer;
    if (p < 0 || dead_[p] || g_.nodes[p].op != op) return nullptr;
    if (index) *index = p;
    return &g_.nodes[p];
  }
  bool is_graph_output(int v) const {
    for (int o : g_.outputs)
      if (o == v) return true;
    return false;
  }
  // The single consumer node of v (v must not be a graph output), or -1.
  int sole_consumer(int v) const {
    const auto& c = g_.consumers(v);
    if (c.size() != 1 || is_graph_output(v) || dead_[c[0]]) return -1;
    return c[0];
  }
  bool consumed_only_by(int v, std::initializer_list<int> nodes) const {
    if (is_graph_output(v)) return false;
    for (int c : g_.consumers(v)) {
      bool ok = false;
      for (int n : nodes) ok = ok || c == n;
      if (!ok) return false;
    }
    return true;
  }
  bool scalar_const(int v, float* out) const {
    if (!g_.is_constant(v)) return false;
    const Tensor& t = g_.constant(v);
    if (t.numel() != 1 || (t.dtype() != DType::Float32 && t.dtype() != DType::Float64)) return false;
    *out = static_cast<float>(t.value_as_double(0));
    return true;
  }
  // The input of a binary node other than `v`.
  static int other_input(const Node& n, int v) { return n.inputs[0] == v ? n.inputs[1] : n.inputs[0]; }

  bool reduces_last_axis(const Node& r, int x) const {
    std::vector<int64_t> axes = r.attr_ints("axes");
    if (!r.has_attr("axes") && r.inputs.size() > 1 && g_.is_constant(r.inputs[1])) axes = g_.constant(r.inputs[1]).as_int64s();
    const int64_t rank = static_cast<int64_t>(g_.value(x).shape.size());
    return r.attr_int("keepdims", 1) == 1 && axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
  }

  static std::string fused_name(const std::string& anchor, const char* what) {
    const auto slash = anchor.rfind('/');
    if (slash != std::string::npos && slash > 0) return anchor.substr(0, slash) + "/" + what;
    return std::string(what) + "_" + anchor;
  }

  // Per-channel parameter of length c from constant v (any broadcastable shape with c elements).
  bool channel_param(int v, int64_t c) const {
    return g_.is_constant(v) && g_.constant(v).dtype() == DType::Float32 && g_.constant(v).numel() == c;
  }
  int add_param(const std::string& name, Tensor t) { return g_.add_constant(name, std::move(t)); }

  void kill(std::initializer_list<int> nodes) {
    for (int n : nodes) dead_[n] = 1;
  }

  void match_layernorm(int div) {
    const Node& D = g_.nodes[div];
    int sub_i = -1, sqrt_i = -1, add_i = -1, r2_i = -1, pow_i = -1, r1_i = -1;
    const Node* S = producer(D.inputs[0], "Sub", &sub_i);
    const Node* Q = producer(D.inputs[1], "Sqrt", &sqrt_i);
    if (!S || !Q) return;
    const int x = S->inputs[0], d = D.inputs[0];
    const Node* R1 = producer(S->inputs[1], "ReduceMean", &r1_i);
    if (!R1 || R1->inputs[0] != x || !reduces_last_axis(*R1, x)) return;
    const Node* A = producer(Q->inputs[0], "Add", &add_i);
    if (!A) return;
    float eps = 0;
    int v = A->inputs[0];
    if (!scalar_const(A->inputs[1], &eps)) {
      v = A->inputs[1];
      if (!scalar_const(A->inputs[0], &eps)) return;
    }
    const Node* R2 = producer(v, "ReduceMean", &r2_i);
    if (!R2 || !reduces_last_axis(*R2, x)) return;
    const Node* P = producer(R2->inputs[0], "Pow", &pow_i);
    float two = 0;
    if (P) {
      if (P->inputs[0] != d || !scalar_const(P->inputs[1], &two) || two != 2.0f) return;
    } else {
      P = producer(R2->inputs[0], "Mul", &pow_i);
      if (!P || P->inputs[0] != d || P->inputs[1] != d) return;
    }
    if (!consumed_only_by(S->inputs[1], {sub_i}) || !consumed_only_by(d, {pow_i, div}) ||
        !consumed_only_by(R2->inputs[0], {r2_i}) || !consumed_only_by(v, {add_i}) ||
        !consumed_only_by(Q->inputs[0], {sqrt_i}) || !consumed_only_by(D.inputs[1], {div}))
      return;
    const int64_t c = g_.value(x).shape.empty() ? 0 : g_.value(x).shape.back();
    int out = D.outputs[0];
    int last = div;
    int gamma = -1, beta = -1;
    std::vector<int> extra;
    if (int m = sole_consumer(out); m >= 0 && g_.nodes[m].op == "Mul" && channel_param(other_input(g_.nodes[m], out), c)) {
      gamma = other_input(g_.nodes[m], out);
      out = g_.nodes[m].outputs[0];
      last = m;
      extra.push_back(m);
      if (int b = sole_consumer(out); b >= 0 && g_.nodes[b].op == "Add" && channel_param(other_input(g_.nodes[b], out), c)) {
        beta = other_input(g_.nodes[b], out);
        out = g_.nodes[b].outputs[0];
        last = b;
        extra.push_back(b);
      }
    }
    Node ln;
    ln.name = fused_name(D.name, "LayerNorm");
    ln.op = "LayerNorm";
    ln.attrs["epsilon"] = eps;
    ln.attrs["axis"] = int64_t{-1};
    if (gamma < 0) gamma = add_param(ln.name + ".weight", Tensor::from_vector<float>({c}, std::vector<float>(c, 1.0f)));
    else if (g_.constant(gamma).rank() != 1) gamma = add_param(ln.name + ".weight", g_.constant(gamma).reshaped({c}));
    if (beta < 0) beta = add_param(ln.name + ".bias", Tensor(DType::Float32, {c}));
    else if (g_.constant(beta).rank() != 1) beta = add_param(ln.name + ".bias", g_.constant(beta).reshaped({c}));
    ln.inputs = {x, gamma, beta};
    ln.outputs = {out};
    kill({div, sub_i, sqrt_i, add_i, r2_i, pow_i, r1_i});
    for (int e : extra) dead_[e] = 1;
    dead_[last] = 1;
    replacement_[last] = std::move(ln);
  }

  void convert_layernormalization(int n) {
    Node& N = g_.nodes[n];
    const int x = N.inputs[0];
    const int64_t rank = static_cast<int64_t>(g_.value(x).shape.size());
    // A rank-0 (or, without folding, unknown) shape has no last axis to normalize over.
    if (rank == 0) return;
    const int64_t axis = N.attr_int("axis", -1);
    if (axis != -1 && axis != rank - 1) return;
    for (size_t k = 1; k < N.outputs.size(); ++k)
      if (N.outputs[k] >= 0 && (!g_.consumers(N.outputs[k]).empty() || is_graph_output(N.outputs[k]))) return;
    const int64_t c = g_.value(x).shape.back();
    if (N.inputs.size() < 3 || N.inputs[2] < 0) {
      N.inputs.resize(3);
      N.inputs[2] = add_param(N.name + ".bias", Tensor(DType::Float32, {c}));
    }
    N.op = "LayerNorm";
    N.attrs = {{"epsilon", N.attr_float("epsilon", 1e-5f)}, {"axis", int64_t{-1}}};
    N.outputs.resize(1);
  }

  static bool near(float a, float b) { return std::fabs(a - b) <= 1e-4f * std::fabs(b); }

  void match_gelu(int erf) {
    const Node& E = g_.nodes[erf];
    int pre_i;
    float k = 0;
    const Node* pre = producer(E.inputs[0], "Div", &pre_i);
    if (pre) {
      if (!scalar_const(pre->inputs[1], &k) || !near(k, 1.41421356f)) return;
    } else {
      pre = producer(E.inputs[0], "Mul", &pre_i);
      if (!pre) return;
      if (!scalar_const(pre->inputs[1], &k) || !near(k, 0.70710678f)) return;
    }
    const int x = pre->inputs[0];
    if (!consumed_only_by(E.inputs[0], {erf})) return;
    const int a1 = sole_consumer(E.outputs[0]);
    float one = 0;
    if (a1 < 0 || g_.nodes[a1].op != "Add" || !scalar_const(other_input(g_.nodes[a1], E.outputs[0]), &one) || one != 1.0f)
      return;
    const int a1_out = g_.nodes[a1].outputs[0];
    const int m1 = sole_consumer(a1_out);
    if (m1 < 0 || g_.nodes[m1].op != "Mul") return;
    const int other = other_input(g_.nodes[m1], a1_out);
    float half = 0;
    int last = -1, h = -1;
    if (other == x) {
      // (x · (1 + erf)) · 0.5
      const int m2 = sole_consumer(g_.nodes[m1].outputs[0]);
      if (m2 < 0 || g_.nodes[m2].op != "Mul" || !scalar_const(other_input(g_.nodes[m2], g_.nodes[m1].outputs[0]), &half) ||
          half != 0.5f)
        return;
      last = m2;
    } else {
      // (x · 0.5) · (1 + erf)
      const Node* H = producer(other, "Mul", &h);
      if (!H || other_input(*H, x) == x || !scalar_const(other_input(*H, x), &half) || half != 0.5f) return;
      if (H->inputs[0] != x && H->inputs[1] != x) return;
      if (!consumed_only_by(other, {m1})) return;
      last = m1;
    }
    Node gelu;
    gelu.name = fused_name(E.name, "Gelu");
    gelu.op = "Gelu";
    gelu.inputs = {x};
    gelu.outputs = {g_.nodes[last].outputs[0]};
    kill({erf, pre_i, a1, m1, last});
    if (h >= 0) dead_[h] = 1;
    replacement_[last] = std::move(gelu);
  }

  void match_matmul_linear(int mm) {
    const Node& M = g_.nodes[mm];
    const int x = M.inputs[0], w = M.inputs[1];
    if (g_.is_constant(x) || !g_.is_constant(w) || g_.constant(w).rank() != 2 || g_.constant(w).dtype() != DType::Float32)
      return;
    if (g_.value(x).shape.size() < 2) return;
    const int64_t n = g_.constant(w).shape()[1];
    Node lin;
    lin.name = M.name;
    lin.op = "Linear";
    lin.inputs = {x, w};
    lin.outputs = {M.outputs[0]};
    int last = mm;
    if (int a = sole_consumer(M.outputs[0]); a >= 0 && g_.nodes[a].op == "Add") {
      const int b = other_input(g_.nodes[a], M.outputs[0]);
      if (channel_param(b, n) && g_.constant(b).rank() <= 1) {
        lin.inputs.push_back(b);
        lin.outputs = {g_.nodes[a].outputs[0]};
        dead_[a] = 1;
        last = a;
      }
    }
    dead_[mm] = 1;
    replacement_[last] = std::move(lin);
  }

  void match_gemm_linear(int gi) {
    const Node& G = g_.nodes[gi];
    const int x = G.inputs[0], b = G.inputs[1];
    if (!g_.is_constant(b) || g_.is_constant(x) || G.attr_int("transA", 0) != 0) return;
    const Tensor& B = g_.constant(b);
    if (B.dtype() != DType::Float32 || B.rank() != 2) return;
    const bool tb = G.attr_int("transB", 0) != 0;
    const float alpha = G.attr_float("alpha", 1.0f), beta = G.attr_float("beta", 1.0f);
    const int64_t k = tb ? B.shape()[1] : B.shape()[0], n = tb ? B.shape()[0] : B.shape()[1];
    const int c = G.inputs.size() > 2 ? G.inputs[2] : -1;
    if (c >= 0 && (!channel_param(c, n) || g_.constant(c).rank() > 2 || (g_.constant(c).rank() == 2 && g_.constant(c).shape()[0] != 1)))
      return;
    Tensor w(DType::Float32, {k, n});
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < n; ++j) w.data<float>()[i * n + j] = alpha * B.data<float>()[tb ? j * k + i : i * n + j];
    Node lin;
    lin.name = G.name;
    lin.op = "Linear";
    lin.inputs = {x, add_param(G.name + ".weight", std::move(w))};
    if (c >= 0 && beta != 0.0f) {
      Tensor bias = g_.constant(c).reshaped({n});
      for (auto& v : bias.values<float>()) v *= beta;
      lin.inputs.push_back(add_param(G.name + ".bias", std::move(bias)));
    }
    lin.outputs = {G.outputs[0]};
    dead_[gi] = 1;
    replacement_[gi] = std::move(lin);
  }

  Graph& g_;
  std::vector<char> dead_;
  std::map<int, Node> replacement_;
};

}  // namespace

// True if the node passes its first input through unchanged (given static shapes).
bool is_identity(const Graph& g, const Node& n) {
  if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty() || n.outputs[0] < 0) return false;
  for (size_t k = 1; k < n.outputs.size(); ++k)
    if (n.outputs[k] >= 0 && !g.consumers(n.outputs[k]).empty()) return false;  // Dropout mask in use
  const Value& in = g.value(n.inputs[0]);
  const Value& out = g.value(n.outputs[0]);
  if (n.op == "Identity" || n.op == "Dropout") return true;
  // Shape-preserving data movement whose output equals its input: no-op Slice, Pad with zero
  // pads, Reshape/Flatten/Squeeze/Unsqueeze to the same shape, Expand to the same shape.
  if (in.shape != out.shape || in.dtype != out.dtype) return false;
  if (n.op == "Reshape" || n.op == "Flatten" || n.op == "Squeeze" || n.op == "Unsqueeze" || n.op == "Expand") return true;
  if (n.op == "Slice") {
    if (n.inputs.size() > 4 && n.inputs[4] >= 0) {
      if (!g.is_constant(n.inputs[4])) return false;
      for (int64_t s : g.constant(n.inputs[4]).as_int64s())
        if (s != 1) return false;
    }
    return true;
  }
  if (n.op == "Pad") return true;
  return false;
}

// Rewires readers of identity nodes to their inputs and drops the nodes.
void remove_identities(Graph& g) {
  g.rebuild_index();
  std::vector<int> alias(g.values.size());
  for (size_t v = 0; v < alias.size(); ++v) alias[v] = static_cast<int>(v);
  std::vector<char> is_output(g.values.size(), 0);
  for (int o : g.outputs) is_output[o] = 1;
  std::vector<Node> kept;
  for (auto& n : g.nodes) {
    for (int& in : n.inputs)
      if (in >= 0) in = alias[in];
    if (is_identity(g, n) && !is_output[n.outputs[0]]) {
      alias[n.outputs[0]] = n.inputs[0];
      continue;
    }
    kept.push_back(std::move(n));
  }
  g.nodes = std::move(kept);
  g.rebuild_index();
  g.remove_dead_nodes();
}

void fuse_patterns(Graph& g) {
  remove_identities(g);
  Fuser(g).run();
}

}  // namespace qvit
