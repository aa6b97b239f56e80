#include "report/model_summary.h"

#include <map>
#include <sstream>

namespace qvit {

std::string quant_role(const Graph& g, const Node& n) {
  if (n.op == "Linear" || n.op == "Conv" || n.op == "Gemm") return "linear";
  if (n.op == "MatMul") return g.is_constant(n.inputs[1]) || g.is_constant(n.inputs[0]) ? "linear" : "matmul";
  if (n.op == "Softmax") return "softmax";
  if (n.op == "Gelu") return "gelu";
  if (n.op == "LayerNorm" || n.op == "LayerNormalization") return "layernorm";
  // A residual add: two data-path tensors of the same shape.
  if (n.op == "Add" && !g.is_constant(n.inputs[0]) && !g.is_constant(n.inputs[1]) &&
      g.value(n.inputs[0]).shape == g.value(n.inputs[1]).shape)
    return "residual_add";
  return "";
}

nlohmann::json summarize_graph(const Graph& g) {
  using nlohmann::json;
  json j;
  j["model"] = g.source;
  j["opset"] = g.opset;
  j["parameters"] = g.parameter_count();
  json ins = json::array(), outs = json::array();
  for (int i : g.inputs) ins.push_back({{"name", g.value(i).name}, {"shape", g.value(i).shape}, {"dtype", dtype_name(g.value(i).dtype)}});
  for (int o : g.outputs) outs.push_back({{"name", g.value(o).name}, {"shape", g.value(o).shape}, {"dtype", dtype_name(g.value(o).dtype)}});
  j["inputs"] = ins;
  j["outputs"] = outs;
  std::map<std::string, int> ops;
  std::map<std::string, int> roles;
  json layers = json::array();
  for (const auto& n : g.nodes) {
    ops[n.op]++;
    const std::string role = quant_role(g, n);
    if (role.empty()) continue;
    roles[role]++;
    json l = {{"name", n.name}, {"op", n.op}, {"role", role}, {"output_shape", g.value(n.outputs[0]).shape}};
    if (role == "linear" && n.inputs.size() > 1 && g.is_constant(n.inputs[1])) l["weight_shape"] = g.value(n.inputs[1]).shape;
    layers.push_back(l);
  }
  j["nodes"] = g.nodes.size();
  j["ops"] = ops;
  j["quantizable"] = roles;
  j["layers"] = layers;
  j["unsupported"] = json::array();
  return j;
}

std::string format_summary_text(const nlohmann::json& j) {
  std::ostringstream os;
  os << "model       " << j["model"].get<std::string>() << "  (opset " << j["opset"] << ")\n";
  for (const auto& i : j["inputs"]) os << "input       " << i["name"].get<std::string>() << " " << i["dtype"].get<std::string>() << " " << i["shape"].dump() << "\n";
  for (const auto& o : j["outputs"]) os << "output      " << o["name"].get<std::string>() << " " << o["dtype"].get<std::string>() << " " << o["shape"].dump() << "\n";
  os << "parameters  " << j["parameters"] << "\n";
  os << "nodes       " << j["nodes"] << " after folding and fusion\n";
  os << "ops        ";
  for (const auto& [k, v] : j["ops"].items()) os << " " << k << "×" << v;
  os << "\nquantizable";
  for (const auto& [k, v] : j["quantizable"].items()) os << " " << k << "×" << v;
  os << "\n\n  " << "layer" << std::string(44, ' ') << "role          output shape\n";
  for (const auto& l : j["layers"]) {
    std::string name = l["name"].get<std::string>();
    if (name.size() > 48) name = "…" + name.substr(name.size() - 47);
    std::string role = l["role"].get<std::string>();
    os << "  " << name << std::string(49 - std::min<size_t>(49, name.size() > 48 ? 48 : name.size()), ' ') << role
       << std::string(14 - std::min<size_t>(13, role.size()), ' ') << l["output_shape"].dump() << "\n";
  }
  if (!j["unsupported"].empty()) {
    os << "\nunsupported:";
    for (const auto& u : j["unsupported"]) os << " " << u.get<std::string>();
    os << "\n";
  }
  return os.str();
}

}  // namespace qvit
