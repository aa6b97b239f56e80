#include "calib/layer_inventory.h"

#include <algorithm>
#include <set>

#include "calib/quant_plan.h"
#include "report/model_summary.h"

namespace qvit {
namespace {

// Walks forward from node `from`'s outputs, not through allocation layers: calls
// at_layer(node) for each layer reached and at_node(node) for every other node passed.
template <class AtLayer, class AtNode>
void walk_downstream(const Graph& g, int from, const std::vector<char>& is_layer, AtLayer&& at_layer, AtNode&& at_node) {
  std::vector<int> frontier(g.nodes[static_cast<size_t>(from)].outputs);
  std::set<int> seen;
  while (!frontier.empty()) {
    const int v = frontier.back();
    frontier.pop_back();
    if (v < 0 || !seen.insert(v).second) continue;
    for (int c : g.consumers(v)) {
      if (is_layer[static_cast<size_t>(c)]) {
        at_layer(c);
        continue;
      }
      if (!at_node(c)) continue;
      for (int o : g.nodes[static_cast<size_t>(c)].outputs) frontier.push_back(o);
    }
  }
}

}  // namespace

LayerInventory find_allocation_layers(const Graph& g, int64_t batch) {
  LayerInventory inv;
  const size_t n_nodes = g.nodes.size();
  std::vector<char> is_layer(n_nodes, 0);
  std::vector<int> softmax_before(n_nodes, 0);  // Softmax nodes strictly before each node
  int softmaxes = 0;
  for (size_t i = 0; i < n_nodes; ++i) {
    const Node& n = g.nodes[i];
    softmax_before[i] = softmaxes;
    if (n.op == "Softmax") ++softmaxes;
    is_layer[i] = is_weight_layer(g, n) || quant_role(g, n) == "matmul";
  }
  inv.blocks = softmaxes;
  std::vector<int> block(n_nodes, -1);
  // Attention matmuls: QKᵀ belongs to the Softmax it feeds; attn·V to the one before it.
  for (size_t i = 0; i < n_nodes; ++i)
    if (is_layer[i] && !is_weight_layer(g, g.nodes[i])) block[i] = std::max(softmax_before[i] - 1, 0);
  for (size_t i = 0; i < n_nodes; ++i) {
    if (!is_layer[i] || is_weight_layer(g, g.nodes[i])) continue;
    // QKᵀ: its output reaches a Softmax before any other layer.
    walk_downstream(
        g, static_cast<int>(i), is_layer, [](int) {},
        [&](int c) {
          if (g.nodes[static_cast<size_t>(c)].op != "Softmax") return true;
          block[i] = softmax_before[static_cast<size_t>(c)];
          return false;
        });
  }
  for (size_t i = 0; i < n_nodes; ++i) {
    const Node& n = g.nodes[i];
    if (!is_layer[i] || !is_weight_layer(g, n)) continue;
    std::vector<int> next;
    walk_downstream(
        g, static_cast<int>(i), is_layer,
        [&](int c) {
          if (std::find(next.begin(), next.end(), c) == next.end()) next.push_back(c);
        },
        [](int) { return true; });
    if (next.empty()) {
      block[i] = softmaxes;  // the head
      continue;
    }
    // An input projection (qkv, or q / k / v apart) belongs to the attention it feeds.
    int feeds = -1;
    for (int c : next)
      if (!is_weight_layer(g, g.nodes[static_cast<size_t>(c)]) && softmax_before[static_cast<size_t>(c)] >= softmax_before[i])
        feeds = feeds < 0 ? block[static_cast<size_t>(c)] : std::min(feeds, block[static_cast<size_t>(c)]);
    block[i] = feeds >= 0 ? feeds : softmax_before[i] - 1;
  }
  for (size_t i = 0; i < n_nodes; ++i) {
    if (!is_layer[i]) continue;
    const Node& n = g.nodes[i];
    InventoryLayer l;
    l.node = static_cast<int>(i);
    l.name = n.name;
    l.kind = n.op == "Conv" ? "conv" : is_weight_layer(g, n) ? "linear" : "matmul";
    if (is_weight_layer(g, n)) {
      l.inputs = {n.inputs[0]};
      l.weight_count = g.constant(n.inputs[1]).numel();
    } else {
      for (int v : {n.inputs[0], n.inputs[1]})
        if (!g.is_constant(v)) l.inputs.push_back(v);
    }
    for (int v : l.inputs) l.activation_count += shape_numel(g.value(v).shape) / std::max<int64_t>(batch, 1);
    l.block = block[i];
    inv.layers.push_back(std::move(l));
  }
  return inv;
}

std::string block_label(const LayerInventory& inv, int block) {
  if (block < 0) return "stem";
  if (block >= inv.blocks) return "head";
  return "block " + std::to_string(block);
}

}  // namespace qvit
