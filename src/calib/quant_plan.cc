#include "calib/quant_plan.h"

#include <algorithm>
#include <set>

#include "report/model_summary.h"

namespace qvit {

bool is_weight_layer(const Graph& g, const Node& n) {
  return (n.op == "Linear" || n.op == "Conv") && n.inputs.size() > 1 && g.is_constant(n.inputs[1]);
}

namespace {

// Is `value` a quantized tensor, or pure data movement (Slice/Concat/Reshape/Transpose/Pad…) of
// quantized tensors only?
bool moved_from_points(const Graph& g, int value, const std::set<int>& quantized) {
  if (quantized.count(value)) return true;
  const int p = g.value(value).producer;
  if (p < 0) return false;
  const Node& n = g.nodes[p];
  static const std::set<std::string> movement = {"Reshape", "Transpose", "Slice", "Concat", "Gather",
                                                 "Flatten", "Squeeze", "Unsqueeze", "Identity", "Pad"};
  if (!movement.count(n.op)) return false;
  bool any = false;
  for (int in : n.inputs) {
    if (in < 0 || g.is_constant(in)) continue;
    if (!moved_from_points(g, in, quantized)) return false;
    any = true;
  }
  return any;
}
// Does `value` reach a quantized tensor through single-reader data movement only (as the
// integer lowering's search for the input grid does)?
bool reaches_point_by_movement(const Graph& g, int value, const std::set<int>& quantized) {
  static const std::set<std::string> movement = {"Reshape", "Transpose", "Slice", "Gather", "Flatten",
                                                 "Squeeze", "Unsqueeze", "Identity"};
  for (int guard = 0; guard < 64; ++guard) {
    if (quantized.count(value)) return true;
    if (g.consumers(value).size() != 1 || std::find(g.outputs.begin(), g.outputs.end(), value) != g.outputs.end())
      return false;
    const Node& c = g.nodes[g.consumers(value)[0]];
    if (!movement.count(c.op) || c.inputs.empty() || c.inputs[0] != value || c.outputs.size() != 1) return false;
    value = c.outputs[0];
  }
  return false;
}
}  // namespace

std::vector<size_t> points_read_by(const Graph& g, const QuantPlan& plan, int node) {
  static const std::set<std::string> movement = {"Reshape", "Transpose", "Slice", "Gather", "Flatten",
                                                 "Squeeze", "Unsqueeze", "Identity", "Pad", "Concat"};
  std::vector<size_t> found;
  std::vector<int> frontier;
  for (int v : g.nodes[static_cast<size_t>(node)].inputs)
    if (v >= 0 && !g.is_constant(v)) frontier.push_back(v);
  if (g.nodes[static_cast<size_t>(node)].op == "Linear" || g.nodes[static_cast<size_t>(node)].op == "Conv") frontier.resize(1);
  std::set<int> seen;
  while (!frontier.empty()) {
    const int v = frontier.back();
    frontier.pop_back();
    if (!seen.insert(v).second) continue;
    bool is_point = false;
    for (size_t i = 0; i < plan.activations.size(); ++i)
      if (plan.activations[i].value == v) {
        if (std::find(found.begin(), found.end(), i) == found.end()) found.push_back(i);
        is_point = true;
      }
    const int p = g.value(v).producer;
    if (is_point || p < 0 || !movement.count(g.nodes[static_cast<size_t>(p)].op)) continue;
    for (int in : g.nodes[static_cast<size_t>(p)].inputs)
      if (in >= 0 && !g.is_constant(in) && g.value(in).dtype == DType::Float32) frontier.push_back(in);
  }
  return found;
}

QuantPlan plan_quantization(const Graph& g, const Recipe& recipe, const AllocatedBitsMap* allocated) {
  QuantPlan plan;
  std::set<int> taken;
  auto add = [&](int value, const std::string& role, const Node& governing, bool softmax, int min_bits = 0) {
    if (value < 0 || g.is_constant(value) || taken.count(value) || g.value(value).dtype != DType::Float32) return;
    taken.insert(value);
    ActivationPoint p;
    p.value = value;
    p.role = role;
    p.node = governing.name;
    if (softmax) {
      p.bits = recipe.softmax_log_sqrt2 ? recipe.softmax_bits : recipe.activation_bits_for(governing.name);
      p.scheme = recipe.softmax_log_sqrt2 ? QuantScheme::LogSqrt2 : QuantScheme::Asymmetric;
    } else {
      p.bits = std::max(min_bits, recipe.activation_bits_for(governing.name));
    }
    plan.activations.push_back(p);
  };
  // Producer roles first.
  for (const auto& n : g.nodes) {
    const std::string role = quant_role(g, n);
    if (role == "softmax" || role == "gelu" || role == "layernorm" || role == "residual_add")
      add(n.outputs[0], role, n, role == "softmax");
  }
  // Inputs of GELU and LayerNorm: the integer kernels need them on one grid (at least
  // nonlinear_input_bits: they feed no matmul, so their width costs no multiplier bits). A
  // LayerNorm input that is only data movement of quantized tensors (Swin's PatchMerging concat) is
  // on a grid already.
  for (const auto& n : g.nodes) {
    if (n.op == "Gelu") add(n.inputs[0], "gelu_input", n, false, recipe.nonlinear_input_bits);
    if (n.op == "LayerNorm" && !moved_from_points(g, n.inputs[0], taken))
      add(n.inputs[0], "layernorm_input", n, false, recipe.nonlinear_input_bits);
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (is_weight_layer(g, n)) {
      const bool graph_input = std::find(g.inputs.begin(), g.inputs.end(), n.inputs[0]) != g.inputs.end();
      // Data moved from a quantized tensor (a class token gathered after the final LayerNorm) is
      // on that grid already: a second grid over the subset would only round twice.
      if (graph_input || !moved_from_points(g, n.inputs[0], taken))
        add(n.inputs[0], graph_input ? "input" : "linear_input", n, false);
      WeightPoint w;
      w.node = static_cast<int>(i);
      w.weight = n.inputs[1];
      w.axis = n.op == "Linear" ? 1 : 0;
      w.bits = recipe.weight_bits_for(n.name);
      plan.weights.push_back(w);
    } else if (quant_role(g, n) == "matmul") {
      // An operand that is data movement of quantized data is on that grid already. A second
      // grid would round twice, and over a log-√2 softmax output (attention pooling's
      // softmax(·)ᵀ·x) a uniform grid would not even be on the same kind of codes.
      for (int k : {0, 1})
        if (!moved_from_points(g, n.inputs[static_cast<size_t>(k)], taken)) add(n.inputs[static_cast<size_t>(k)], "matmul_input", n, false);
    }
  }
  // The model input needs a grid of its own unless its data reaches one through single-reader
  // data movement (a patchify by Reshape/Transpose feeding a Linear). Patches by unfold (many
  // Slices of the image), or an image that first meets a MaxPool or Mul, get the input's point.
  for (int in : g.inputs)
    if (!g.consumers(in).empty() && !reaches_point_by_movement(g, in, taken))
      add(in, "input", g.nodes[static_cast<size_t>(g.consumers(in)[0])], false);
  if (allocated) {
    for (WeightPoint& w : plan.weights)
      if (auto it = allocated->find(g.nodes[static_cast<size_t>(w.node)].name); it != allocated->end() && it->second.weight_bits > 0)
        w.bits = it->second.weight_bits;
    std::vector<int> widest(plan.activations.size(), 0);
    for (size_t n = 0; n < g.nodes.size(); ++n) {
      auto it = allocated->find(g.nodes[n].name);
      if (it == allocated->end() || it->second.activation_bits <= 0) continue;
      for (size_t p : points_read_by(g, plan, static_cast<int>(n))) widest[p] = std::max(widest[p], it->second.activation_bits);
    }
    for (size_t p = 0; p < plan.activations.size(); ++p)
      if (widest[p] > 0) plan.activations[p].bits = widest[p];
  }
  return plan;
}

namespace {
// Does node n move data without mixing or shifting channels of the last axis of value `in`?
bool preserves_channels(const Graph& g, const Node& n, int in) {
  if (n.inputs.empty() || (n.op != "Concat" && n.inputs[0] != in)) return false;
  const Shape& is = g.value(in).shape;
  const Shape& os = g.value(n.outputs[0]).shape;
  if (is.empty() || os.empty() || is.back() != os.back()) return false;
  const int last = static_cast<int>(is.size()) - 1;
  auto axis_is_last = [&](int64_t a) { return a == -1 || a == last; };
  if (n.op == "Reshape") return true;  // last dim unchanged (checked above) and row-major order kept
  if (n.op == "Transpose") {
    const auto perm = n.attr_ints("perm");
    return !perm.empty() && perm.back() == last;
  }
  if (n.op == "Gather") return !axis_is_last(n.attr_int("axis", 0));
  // Concat off the channel axis (torch.roll's Slice+Concat); find_reparam_sites checks that every
  // input comes from the same LayerNorm.
  if (n.op == "Concat") return !axis_is_last(n.attr_int("axis", 0));
  if (n.op == "Slice") {
    if (n.inputs.size() > 3 && n.inputs[3] >= 0 && g.is_constant(n.inputs[3])) {
      for (int64_t a : g.constant(n.inputs[3]).as_int64s())
        if (axis_is_last(a)) return false;
      return true;
    }
    return false;
  }
  return false;
}
}  // namespace

std::vector<ReparamSite> find_reparam_sites(const Graph& g) {
  std::vector<ReparamSite> sites;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& ln = g.nodes[i];
    if (ln.op != "LayerNorm") continue;
    ReparamSite site;
    site.layernorm = static_cast<int>(i);
    bool ok = true;
    std::vector<int> frontier = {ln.outputs[0]};
    std::set<int> seen;
    std::vector<int> concats;
    while (ok && !frontier.empty()) {
      const int v = frontier.back();
      frontier.pop_back();
      if (!seen.insert(v).second) continue;
      if (std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end()) ok = false;
      for (int c : g.consumers(v)) {
        const Node& n = g.nodes[c];
        if (n.op == "Linear" && n.inputs[0] == v && g.is_constant(n.inputs[1])) {
          if (std::find(site.linears.begin(), site.linears.end(), c) == site.linears.end()) site.linears.push_back(c);
        } else if (preserves_channels(g, n, v)) {
          if (n.op == "Concat") concats.push_back(c);
          frontier.push_back(n.outputs[0]);
        } else {
          ok = false;
        }
      }
    }
    for (int c : concats)
      for (int in : g.nodes[c].inputs)
        if (!seen.count(in)) ok = false;  // concatenated with data from elsewhere
    if (ok && !site.linears.empty()) sites.push_back(site);
  }
  return sites;
}

}  // namespace qvit
