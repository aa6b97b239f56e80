#include "ir/fold.h"

#include "ir/executor.h"

namespace qvit {

void fold_constants(Graph& g) {
  std::vector<Tensor> zeros;
  for (int id : g.inputs) zeros.emplace_back(g.value(id).dtype, g.value(id).shape);
  std::vector<Tensor> all;
  {
    Executor ex(g);
    all = ex.run_all(std::move(zeros));
  }
  // A value is static if it cannot change with the input data.
  std::vector<char> is_static(g.values.size(), 0);
  for (size_t v = 0; v < g.values.size(); ++v) is_static[v] = g.values[v].constant.has_value();
  std::vector<Node> kept;
  for (auto& node : g.nodes) {
    bool st = node.op == "Shape" || node.op == "Size";
    if (!st) {
      st = true;
      for (int in : node.inputs)
        if (in >= 0 && !is_static[in]) st = false;
    }
    for (int o : node.outputs) {
      if (o < 0) continue;
      Value& v = g.value(o);
      v.dtype = all[o].dtype();
      v.shape = all[o].shape();
      if (st) {
        is_static[o] = 1;
        v.constant = std::move(all[o]);
        v.producer = -1;
      }
    }
    if (!st) kept.push_back(std::move(node));
  }
  g.nodes = std::move(kept);
  g.rebuild_index();
  g.remove_dead_nodes();
}

}  // namespace qvit
