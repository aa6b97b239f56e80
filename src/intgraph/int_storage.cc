#include "intgraph/int_storage.h"

#include <set>
#include <string>

namespace qvit {

namespace {

// Data movement that only rearranges (or selects) the elements of input 0; its other inputs are
// shapes, axes or indices (int64 constants).
bool rearranges_input0(const std::string& op) {
  static const std::set<std::string> ops = {"Reshape", "Transpose", "Slice", "Split",   "Gather",
                                            "Flatten", "Squeeze",   "Unsqueeze", "Identity"};
  return ops.count(op) != 0;
}

bool clamped_producer(const Node& n) {
  return (n.op == "QRequantize" || n.op == "QLayerNorm" || n.op == "QAdd" || n.op == "QClamp") && n.has_attr("lo") &&
         n.has_attr("hi") && n.outputs.size() == 1;
}

}  // namespace

CodeStorage plan_code_storage(const Graph& g) {
  CodeStorage plan(g.values.size());
  std::vector<char> is_output(g.values.size(), 0);
  for (int o : g.outputs) is_output[static_cast<size_t>(o)] = 1;
  for (const Node& producer : g.nodes) {
    if (!clamped_producer(producer)) continue;
    const int64_t lo = producer.attr_int("lo"), hi = producer.attr_int("hi");
    if (hi < lo || hi - lo > 255) continue;
    // The family: the output and everything data movement makes of it.
    std::vector<int> family = {producer.outputs[0]};
    bool ok = true;
    for (size_t i = 0; i < family.size() && ok; ++i) {
      const int v = family[i];
      if (is_output[static_cast<size_t>(v)]) ok = false;
      for (int r : g.consumers(v)) {
        const Node& reader = g.nodes[static_cast<size_t>(r)];
        // A QMatMul operand (input 0 or 1), never its bias.
        if (reader.op == "QMatMul" && !(reader.inputs.size() > 2 && reader.inputs[2] == v)) continue;
        if (rearranges_input0(reader.op) && !reader.inputs.empty() && reader.inputs[0] == v) {
          // Only as the data input: a value that is also a shape or an index stays int32.
          for (size_t k = 1; k < reader.inputs.size(); ++k)
            if (reader.inputs[k] == v) ok = false;
          for (int o : reader.outputs) family.push_back(o);
          continue;
        }
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    for (int v : family) plan[static_cast<size_t>(v)] = static_cast<int32_t>(lo);
  }
  return plan;
}

}  // namespace qvit
