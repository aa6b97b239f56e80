#include "intgraph/int_merge.h"

#include <cstring>
#include <map>
#include <variant>

namespace qvit {

namespace {

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

bool same_attrs(const Node& a, const Node& b) {
  if (a.attrs.size() != b.attrs.size()) return false;
  for (auto ia = a.attrs.begin(), ib = b.attrs.begin(); ia != a.attrs.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.index() != ib->second.index()) return false;
    const bool equal = std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          const T& y = std::get<T>(ib->second);
          if constexpr (std::is_same_v<T, Tensor>) return same_tensor(x, y);
          else return x == y;
        },
        ia->second);
    if (!equal) return false;
  }
  return true;
}

bool same_inputs(const Graph& g, const Node& a, const Node& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const int x = a.inputs[i], y = b.inputs[i];
    if (x == y) continue;
    if (!g.is_constant(x) || !g.is_constant(y) || !same_tensor(g.constant(x), g.constant(y))) return false;
  }
  return true;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> merge_duplicate_nodes(Graph& g) {
  std::vector<char> is_output(g.values.size(), 0);
  for (int o : g.outputs) is_output[static_cast<size_t>(o)] = 1;
  std::vector<int> replaced(g.values.size());
  for (size_t v = 0; v < replaced.size(); ++v) replaced[v] = static_cast<int>(v);
  // Earlier nodes by op and first non-constant input: the only candidates a node can equal.
  std::map<std::pair<std::string, int>, std::vector<size_t>> earlier;
  std::vector<std::pair<std::string, std::string>> merged;
  std::vector<char> drop(g.nodes.size(), 0);
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    Node& node = g.nodes[n];
    for (int& in : node.inputs)
      if (in >= 0) in = replaced[static_cast<size_t>(in)];
    int first_data = -1;
    for (int in : node.inputs)
      if (in >= 0 && !g.is_constant(in)) {
        first_data = in;
        break;
      }
    // (Constant inputs only: constant folding's business. No outputs: the executor's error.)
    if (first_data < 0 || node.outputs.empty()) continue;
    std::vector<size_t>& candidates = earlier[{node.op, first_data}];
    bool keeps_output = false;
    for (int o : node.outputs) keeps_output = keeps_output || (o >= 0 && is_output[static_cast<size_t>(o)]);
    const Node* same = nullptr;
    if (!keeps_output)
      for (size_t m : candidates) {
        const Node& c = g.nodes[m];
        if (c.outputs.size() == node.outputs.size() && same_attrs(c, node) && same_inputs(g, c, node)) {
          same = &c;
          break;
        }
      }
    if (!same) {
      candidates.push_back(n);
      continue;
    }
    for (size_t k = 0; k < node.outputs.size(); ++k)
      if (node.outputs[k] >= 0 && same->outputs[k] >= 0) replaced[static_cast<size_t>(node.outputs[k])] = same->outputs[k];
    merged.emplace_back(node.name, same->name);
    drop[n] = 1;
  }
  if (merged.empty()) return merged;
  // Only the merged nodes go (a dead node of a file still runs and counts, as in the reference).
  std::vector<Node> kept;
  for (size_t n = 0; n < g.nodes.size(); ++n)
    if (!drop[n]) kept.push_back(std::move(g.nodes[n]));
  g.nodes = std::move(kept);
  g.rebuild_index();
  return merged;
}

}  // namespace qvit
