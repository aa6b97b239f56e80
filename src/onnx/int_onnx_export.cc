#include "onnx/int_onnx_export.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "intgraph/int_ops.h"
#include "onnx/onnx_proto_util.h"
#include "util/atomic_file.h"

namespace qvit {

namespace {

using namespace onnx_util;

// What a node of each qvit-domain op must carry. The single source of truth for the format: export
// validates the IntGraph against it and load validates the file against it (int_ops.h documents
// the semantics; optional attributes, e.g. QConv's strides/pads/dilations/group, are not listed).
struct IntOpSpec {
  std::vector<std::string> required_attributes;
  size_t min_inputs, max_inputs;
  bool input1_is_weight = false;  // a constant input 1 may be stored narrow (INT8 / packed int4)
};

const std::map<std::string, IntOpSpec>& int_op_specs() {
  static const std::map<std::string, IntOpSpec> specs = {
      {"QMatMul", {{}, 2, 3, true}},
      {"QConv", {{}, 2, 3, true}},
      {"QRequantize", {{"axis", "lo", "hi"}, 2, 2}},
      {"QAdd", {{"shift", "lo", "hi"}, 3, 3}},
      {"QShiftmax", {{"i0", "n", "out_bits"}, 1, 1}},
      {"QIBertSoftmax", {{"ln2", "b", "c", "z_max", "out_bits"}, 1, 1}},
      {"QInt32SafeSoftmax", {{"ln2", "b", "c", "z_max", "m_star"}, 1, 1}},
      {"QShiftGelu", {{"i0", "n", "sigmoid_bits"}, 1, 1}},
      {"QIBertGelu", {{"clip", "one", "shift", "one_shifted"}, 1, 1}},
      {"QLayerNorm", {{"input_bits", "shift_m", "var_eps", "lo", "hi"}, 4, 4}},
      {"QLog2Codes", {{"frac_bits", "code_bits"}, 2, 2}},
      {"QLog2MatMul", {{"frac_bits", "sqrt2", "code_bits"}, 2, 2}},
      {"QMean", {{"axes", "keepdims"}, 1, 1}},
      {"QClamp", {{"lo", "hi"}, 1, 1}},
      {"QMulConst", {{}, 2, 2}},
      {"QMaxPool", {{"kernel_shape"}, 1, 1}},
  };
  return specs;
}


constexpr const char* kInt4WeightsKey = "qvit.int4_weights";

void validate_int_graph(const Graph& g, const std::string& source) {
  for (int id : g.inputs)
    if (g.value(id).dtype != DType::Int32)
      throw Error(source + ": input '" + g.value(id).name + "' must be int32, is " + dtype_name(g.value(id).dtype));
  for (const Node& node : g.nodes) {
    const std::string where = source + ": " + node.describe();
    auto spec = int_op_specs().find(node.op);
    if (spec != int_op_specs().end()) {
      if (node.inputs.size() < spec->second.min_inputs || node.inputs.size() > spec->second.max_inputs)
        throw Error(where + ": has " + std::to_string(node.inputs.size()) + " inputs, expected " +
                    std::to_string(spec->second.min_inputs) +
                    (spec->second.max_inputs > spec->second.min_inputs ? "–" + std::to_string(spec->second.max_inputs) : ""));
      for (const std::string& key : spec->second.required_attributes) {
        auto a = node.attrs.find(key);
        if (a == node.attrs.end()) throw Error(where + ": missing required attribute '" + key + "'");
        if (!std::holds_alternative<int64_t>(a->second) && !std::holds_alternative<std::vector<int64_t>>(a->second))
          throw Error(where + ": attribute '" + key + "' must be an int or ints");
      }
    } else if (!is_int_data_movement_op(node.op)) {
      throw Error(where + ": unknown op '" + node.op + "' (not in the " + kIntOnnxFormat + " op set)");
    }
    for (int v : node.inputs)
      if (v >= 0 && g.value(v).dtype != DType::Int32 && g.value(v).dtype != DType::Int64)
        throw Error(where + ": input '" + g.value(v).name + "' is " + dtype_name(g.value(v).dtype) + ", not int32/int64");
  }
}

// ---- narrow weight storage ----

bool all_within(const Tensor& t, int32_t lo, int32_t hi) {
  for (int32_t v : t.values<int32_t>())
    if (v < lo || v > hi) return false;
  return true;
}

// Two's-complement nibbles, element 2i in the low nibble of byte i.
Tensor pack_int4(const Tensor& t) {
  const auto v = t.values<int32_t>();
  Tensor packed(DType::UInt8, {static_cast<int64_t>((v.size() + 1) / 2)});
  uint8_t* p = packed.data<uint8_t>();
  for (size_t i = 0; i < v.size(); ++i) p[i / 2] |= static_cast<uint8_t>((v[i] & 0xF) << (4 * (i % 2)));
  return packed;
}

Tensor unpack_int4(const Tensor& packed, const Shape& shape, const std::string& where) {
  Tensor t(DType::Int32, shape);
  if (packed.numel() != (t.numel() + 1) / 2)
    throw Error(where + ": packed int4 weight holds " + std::to_string(packed.numel()) + " bytes for shape " + shape_str(shape));
  const uint8_t* p = packed.data<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int32_t nibble = (p[i / 2] >> (4 * (i % 2))) & 0xF;
    t.data<int32_t>()[i] = nibble >= 8 ? nibble - 16 : nibble;
  }
  return t;
}

// Constants read only as a QMatMul/QConv weight (input 1).
std::set<int> weight_constants(const Graph& g) {
  std::set<int> weights, other;
  for (const Node& node : g.nodes) {
    auto spec = int_op_specs().find(node.op);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int v = node.inputs[i];
      if (!g.is_constant(v)) continue;
      const bool weight_slot = i == 1 && spec != int_op_specs().end() && spec->second.input1_is_weight;
      (weight_slot && g.constant(v).dtype() == DType::Int32 ? weights : other).insert(v);
    }
  }
  for (int v : other) weights.erase(v);
  return weights;
}

// ---- metadata ----

nlohmann::json quant_params_json(const QuantParams& p) {
  return {{"scheme", scheme_name(p.scheme)}, {"bits", p.bits}, {"scale", static_cast<double>(p.scale)}, {"zero_point", p.zero_point}};
}

void add_boundary_metadata(onnx::ModelProto& m, const LoweredModel& lm) {
  add_metadata(m, kIntOnnxFormatKey, kIntOnnxFormat);
  add_metadata(m, "qvit.input", quant_params_json(lm.input).dump());
  nlohmann::json outs = nlohmann::json::array();
  for (const auto& o : lm.outputs) outs.push_back({{"scales", o.scales}, {"axis", o.axis}});
  add_metadata(m, "qvit.outputs", outs.dump());
  add_metadata(m, "qvit.nonlinear", nonlinear_family_name(lm.family));
  nlohmann::json bounds = nlohmann::json::array();
  for (const auto& b : lm.bounds)
    bounds.push_back({{"node", b.node}, {"kernel", b.kernel}, {"stage", b.stage}, {"worst_abs", b.worst_abs}, {"fits_int32", b.fits}});
  add_metadata(m, "qvit.kernel_bounds", bounds.dump());
}

// Reads a metadata value as JSON; one error line naming the key otherwise.
nlohmann::json metadata_json(const onnx::ModelProto& m, const std::string& key, const std::string& path) {
  const std::string* v = find_metadata(m, key);
  if (!v) throw Error(path + ": metadata '" + key + "' is missing");
  try {
    return nlohmann::json::parse(*v);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": metadata '" + key + "' is not valid JSON: " + e.what());
  }
}

void read_boundary_metadata(const onnx::ModelProto& m, const std::string& path, LoweredModel& lm) {
  const std::string* family = find_metadata(m, "qvit.nonlinear");
  if (!family) throw Error(path + ": metadata 'qvit.nonlinear' is missing");
  std::string key;
  try {
    key = "qvit.nonlinear";
    lm.family = nonlinear_family_from_name(*family);
    key = "qvit.input";
    const nlohmann::json in = metadata_json(m, key, path);
    lm.input.scheme = scheme_from_name(in.at("scheme").get<std::string>());
    lm.input.bits = in.at("bits").get<int>();
    lm.input.scale = static_cast<float>(in.at("scale").get<double>());
    lm.input.zero_point = in.at("zero_point").get<int32_t>();
    key = "qvit.outputs";
    for (const auto& o : metadata_json(m, key, path))
      lm.outputs.push_back({o.at("scales").get<std::vector<double>>(), o.at("axis").get<int>()});
    key = "qvit.kernel_bounds";
    if (find_metadata(m, key))
      for (const auto& b : metadata_json(m, key, path))
        lm.bounds.push_back({b.at("node").get<std::string>(), b.at("kernel").get<std::string>(), b.at("stage").get<std::string>(),
                             b.at("worst_abs").get<double>(), b.at("fits_int32").get<bool>()});
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": metadata '" + key + "': " + e.what());
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(path, 0) == 0) throw;
    throw Error(path + ": metadata '" + key + "': " + what);
  }
}

// ---- graph ⇄ proto ----

void build_graph_proto(const Graph& g, onnx::ModelProto& m) {
  UniqueNames names;
  const std::vector<std::string> vname = unique_value_names(g, names);
  UniqueNames node_names;
  auto* gp = m.mutable_graph();
  gp->set_name("qvit_int");
  const std::set<int> weights = weight_constants(g);
  nlohmann::json int4 = nlohmann::json::object();
  std::set<int> written;
  auto write_constant = [&](int id) {
    if (!written.insert(id).second) return;
    const Tensor& t = g.constant(id);
    auto* init = gp->add_initializer();
    if (weights.count(id) && all_within(t, -8, 7)) {
      tensor_to_proto(pack_int4(t), vname[id], init);
      init->set_doc_string("qvit: int4 weight of shape " + shape_str(t.shape()) + ", two per byte, low nibble first");
      int4[vname[id]] = t.shape();
    } else if (weights.count(id) && all_within(t, -128, 127)) {
      tensor_to_proto(t.cast(DType::Int8), vname[id], init);
    } else {
      tensor_to_proto(t, vname[id], init);
    }
  };
  for (int id : g.inputs) set_value_info(gp->add_input(), vname[id], g.value(id).dtype, g.value(id).shape);
  const std::set<int> outputs(g.outputs.begin(), g.outputs.end());
  for (const Node& node : g.nodes) {
    auto* np = gp->add_node();
    np->set_name(node_names.fresh(node.name.empty() ? node.op : node.name));
    np->set_op_type(node.op);
    if (int_op_specs().count(node.op)) np->set_domain(kQvitDomain);
    for (int v : node.inputs) {
      np->add_input(v >= 0 ? vname[v] : "");
      if (g.is_constant(v)) write_constant(v);
    }
    for (int v : node.outputs) {
      np->add_output(v >= 0 ? vname[v] : "");
      if (v >= 0 && !outputs.count(v)) set_value_info(gp->add_value_info(), vname[v], g.value(v).dtype, g.value(v).shape);
    }
    for (const auto& [key, value] : node.attrs) attr_to_proto(key, value, np->add_attribute(), node.describe());
  }
  for (int id : g.outputs) set_value_info(gp->add_output(), vname[id], g.value(id).dtype, g.value(id).shape);
  if (!int4.empty()) add_metadata(m, kInt4WeightsKey, int4.dump());
}

Graph graph_from_proto(const onnx::ModelProto& m, const std::string& path) {
  const auto& gp = m.graph();
  Graph g;
  g.source = path;
  g.opset = kExportOpset;
  std::map<std::string, Shape> int4;
  if (find_metadata(m, kInt4WeightsKey)) {
    const nlohmann::json packed = metadata_json(m, kInt4WeightsKey, path);
    try {
      for (const auto& [name, shape] : packed.items()) int4[name] = shape.get<Shape>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ": metadata '" + kInt4WeightsKey + "': " + e.what());
    }
  }
  for (const auto& init : gp.initializer()) {
    const std::string where = path + ": initializer '" + init.name() + "'";
    Tensor t = tensor_from_proto(init, path);
    if (int4.count(init.name())) {
      if (t.dtype() != DType::UInt8) throw Error(where + ": a packed int4 weight must be uint8");
      t = unpack_int4(t, int4.at(init.name()), where);
    } else if (t.dtype() == DType::Int8) {
      t = t.cast(DType::Int32);
    } else if (t.dtype() != DType::Int32 && t.dtype() != DType::Int64) {
      throw Error(where + ": element type " + dtype_name(t.dtype()) + " has no place in an integer model");
    }
    g.add_constant(init.name(), std::move(t));
  }
  std::map<std::string, const onnx::ValueInfoProto*> infos;
  for (const auto& vi : gp.value_info()) infos[vi.name()] = &vi;
  for (const auto& vi : gp.output()) infos[vi.name()] = &vi;
  auto typed_value = [&](const onnx::ValueInfoProto& vi) {
    const std::string where = path + ": value '" + vi.name() + "'";
    if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape()) throw Error(where + " has no tensor type and shape");
    Value v;
    v.name = vi.name();
    v.dtype = dtype_from_proto(vi.type().tensor_type().elem_type(), where);
    for (const auto& d : vi.type().tensor_type().shape().dim()) {
      if (!d.has_dim_value()) throw Error(where + " has a dynamic dimension; integer models have static shapes");
      v.shape.push_back(d.dim_value());
    }
    return v;
  };
  for (const auto& vi : gp.input()) {
    if (g.find_value(vi.name()) >= 0) continue;  // an initializer listed as input (older writers)
    g.inputs.push_back(g.add_value(typed_value(vi)));
  }
  for (int n = 0; n < gp.node_size(); ++n) {
    const auto& np = gp.node(n);
    Node node;
    node.name = np.name().empty() ? np.op_type() + "_" + std::to_string(n) : np.name();
    node.op = np.op_type();
    const std::string where = path + ": " + node.describe();
    const bool qvit_domain = np.domain() == kQvitDomain;
    const bool default_domain = np.domain().empty() || np.domain() == "ai.onnx";
    if (!(qvit_domain && int_op_specs().count(node.op)) && !(default_domain && is_int_data_movement_op(node.op)))
      throw Error(where + ": unknown op '" + (np.domain().empty() ? "" : np.domain() + ":") + node.op + "' (not in the " +
                  kIntOnnxFormat + " op set)");
    for (const auto& a : np.attribute()) node.attrs[a.name()] = attr_from_proto(a, where);
    for (const auto& in : np.input()) {
      const int id = in.empty() ? -1 : g.find_value(in);
      if (!in.empty() && id < 0) throw Error(where + ": input '" + in + "' is not defined before the node");
      node.inputs.push_back(id);
    }
    for (const auto& out : np.output()) {
      if (out.empty()) {
        node.outputs.push_back(-1);
        continue;
      }
      auto info = infos.find(out);
      if (info == infos.end()) throw Error(where + ": output '" + out + "' has no value_info (type and shape)");
      Value v = typed_value(*info->second);
      v.producer = static_cast<int>(g.nodes.size());
      node.outputs.push_back(g.add_value(std::move(v)));
    }
    g.nodes.push_back(std::move(node));
  }
  for (const auto& o : gp.output()) {
    const int id = g.find_value(o.name());
    if (id < 0) throw Error(path + ": graph output '" + o.name() + "' is not produced by any node");
    g.outputs.push_back(id);
  }
  g.rebuild_index();
  return g;
}

const onnx::OperatorSetIdProto* find_opset(const onnx::ModelProto& m, const std::string& domain) {
  for (const auto& o : m.opset_import())
    if (o.domain() == domain || (domain.empty() && o.domain() == "ai.onnx")) return &o;
  return nullptr;
}

void check_header(const onnx::ModelProto& m, const std::string& path) {
  const std::string* format = find_metadata(m, kIntOnnxFormatKey);
  if (!format)
    throw Error(path + ": not a qvit integer model (no '" + kIntOnnxFormatKey + "' in metadata_props; export one with qvit export)");
  if (*format != kIntOnnxFormat)
    throw Error(path + ": unsupported " + kIntOnnxFormatKey + " '" + *format + "' (this qvit reads " + kIntOnnxFormat + ")");
  const auto* qvit = find_opset(m, kQvitDomain);
  if (!qvit) throw Error(path + ": the model does not import the '" + kQvitDomain + "' operator domain");
  if (qvit->version() != kQvitDomainVersion)
    throw Error(path + ": imports domain '" + kQvitDomain + "' version " + std::to_string(qvit->version()) +
                "; this qvit implements version " + std::to_string(kQvitDomainVersion));
  const auto* onnx_domain = find_opset(m, "");
  if (!onnx_domain || onnx_domain->version() < 13 || onnx_domain->version() > kExportOpset)
    throw Error(path + ": the default ONNX domain must be imported at opset 13–" + std::to_string(kExportOpset));
}

}  // namespace

void save_int_onnx(const LoweredModel& model, const std::string& path, const std::string& producer_info) {
  const Graph& g = model.graph;
  require_exportable_opset(g, "integer ONNX export");
  validate_int_graph(g, g.source);
  if (g.inputs.size() != 1 || model.outputs.size() != g.outputs.size())
    throw Error(g.source + ": an integer model has one input and one output scale per output");
  onnx::ModelProto m;
  m.set_ir_version(kExportIrVersion);
  m.set_producer_name("qvit");
  m.set_doc_string(producer_info);
  auto* onnx_domain = m.add_opset_import();
  onnx_domain->set_domain("");
  onnx_domain->set_version(kExportOpset);
  auto* qvit = m.add_opset_import();
  qvit->set_domain(kQvitDomain);
  qvit->set_version(kQvitDomainVersion);
  add_boundary_metadata(m, model);
  build_graph_proto(g, m);
  write_model(m, path);
}

LoweredModel load_int_onnx(const std::string& path) {
  const onnx::ModelProto m = read_model(path);
  check_header(m, path);
  check_model_or_throw(m, path);
  LoweredModel lm;
  lm.graph = graph_from_proto(m, path);
  validate_int_graph(lm.graph, path);
  read_boundary_metadata(m, path, lm);
  if (lm.graph.inputs.size() != 1) throw Error(path + ": an integer model has exactly one input");
  if (lm.outputs.size() != lm.graph.outputs.size())
    throw Error(path + ": metadata 'qvit.outputs' lists " + std::to_string(lm.outputs.size()) + " outputs, the graph has " +
                std::to_string(lm.graph.outputs.size()));
  return lm;
}

bool is_int_onnx(const std::string& path) {
  try {
    const onnx::ModelProto m = read_model(path);
    return find_metadata(m, kIntOnnxFormatKey) != nullptr || find_opset(m, kQvitDomain) != nullptr;
  } catch (const Error&) {
    return false;
  }
}

namespace testing {

void damage_int_onnx(const std::string& in_path, const std::string& out_path, IntOnnxDamage damage) {
  onnx::ModelProto m = read_model(in_path);
  std::string bytes;
  switch (damage) {
    case IntOnnxDamage::DropRequiredAttribute: {
      for (auto& node : *m.mutable_graph()->mutable_node()) {
        auto spec = int_op_specs().find(node.op_type());
        if (spec == int_op_specs().end() || spec->second.required_attributes.empty()) continue;
        auto* attrs = node.mutable_attribute();
        const std::string& key = spec->second.required_attributes.front();
        attrs->erase(std::remove_if(attrs->begin(), attrs->end(), [&](const auto& a) { return a.name() == key; }), attrs->end());
        break;
      }
      break;
    }
    case IntOnnxDamage::QvitDomainVersion:
      for (auto& o : *m.mutable_opset_import())
        if (o.domain() == kQvitDomain) o.set_version(kQvitDomainVersion + 1);
      break;
    case IntOnnxDamage::FormatVersion:
      for (auto& kv : *m.mutable_metadata_props())
        if (kv.key() == kIntOnnxFormatKey) kv.set_value("qvit.int/99");
      break;
    case IntOnnxDamage::Truncate:
      break;
  }
  m.SerializeToString(&bytes);
  if (damage == IntOnnxDamage::Truncate) bytes.resize(bytes.size() / 2);
  write_file_atomic(out_path, bytes);
}

}  // namespace testing

}  // namespace qvit
