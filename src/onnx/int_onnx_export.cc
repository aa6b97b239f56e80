#include "onnx/int_onnx_export.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "intgraph/int_graph_check.h"
#include "intgraph/int_ops.h"
#include "onnx/int_onnx_metadata.h"
#include "onnx/onnx_proto_util.h"
#include "util/atomic_file.h"
#include "util/limits.h"

namespace qvit {

namespace {

using namespace onnx_util;

constexpr const char* kInt4WeightsKey = "qvit.int4_weights";

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
  // The shape is the metadata's: compared with the bytes present before anything is allocated.
  if (packed.numel() != shape_numel(shape) / 2 + shape_numel(shape) % 2)
    throw Error(where + ": packed int4 weight holds " + std::to_string(packed.numel()) + " bytes for shape " + shape_str(shape));
  Tensor t(DType::Int8, shape);
  const uint8_t* p = packed.data<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int32_t nibble = (p[i / 2] >> (4 * (i % 2))) & 0xF;
    t.data<int8_t>()[i] = static_cast<int8_t>(nibble >= 8 ? nibble - 16 : nibble);
  }
  return t;
}


// ---- graph ⇄ proto ----

void build_graph_proto(const Graph& g, onnx::ModelProto& m) {
  UniqueNames names;
  const std::vector<std::string> vname = unique_value_names(g, names);
  UniqueNames node_names;
  auto* gp = m.mutable_graph();
  gp->set_name("qvit_int");
  const std::set<int> weights = linear_weight_constants(g);
  nlohmann::json int4 = nlohmann::json::object();
  std::set<int> written;
  auto write_constant = [&](int id) {
    if (!written.insert(id).second) return;
    const Tensor t = g.constant(id).dtype() == DType::Int8 ? g.constant(id).cast(DType::Int32) : g.constant(id);
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
    if (find_int_op_spec(node.op)) np->set_domain(kQvitDomain);
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

bool has_control_char(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
}

// Names end up in every later message (load, run, eval reports): one line each, so no newlines.
const std::string& checked_name(const std::string& name, const std::string& path, const char* what) {
  if (has_control_char(name)) throw Error(path + ": a " + what + " name contains a control character");
  return name;
}

Graph graph_from_proto(const onnx::ModelProto& m, const std::string& path) {
  const auto& gp = m.graph();
  Graph g;
  g.source = path;
  g.opset = kExportOpset;
  std::map<std::string, Shape> int4 = read_int4_metadata(m, kInt4WeightsKey, path);
  std::set<std::string> initializers;
  for (const auto& init : gp.initializer()) {
    if (!initializers.insert(checked_name(init.name(), path, "initializer")).second)
      throw Error(path + ": initializer '" + clip_for_message(init.name()) + "' is defined twice");
    const std::string where = path + ": initializer '" + init.name() + "'";
    Tensor t = tensor_from_proto(init, path);
    if (int4.count(init.name())) {
      if (t.dtype() != DType::UInt8) throw Error(where + ": a packed int4 weight must be uint8");
      t = unpack_int4(t, int4.at(init.name()), where);
    } else if (t.dtype() == DType::Int8) {
      // Kept at int8 (a quarter of the memory) when it is a QMatMul/QConv weight; see below.
    } else if (t.dtype() != DType::Int32 && t.dtype() != DType::Int64) {
      throw Error(where + ": element type " + dtype_name(t.dtype()) + " has no place in an integer model");
    }
    g.add_constant(init.name(), std::move(t));
  }
  for (const auto& [name, shape] : int4)
    if (!initializers.count(name))
      throw Error(path + ": metadata '" + kInt4WeightsKey + "' names initializer '" + clip_for_message(name) + "', which the file does not have");
  std::map<std::string, const onnx::ValueInfoProto*> infos;
  for (const auto& vi : gp.value_info()) infos[vi.name()] = &vi;
  for (const auto& vi : gp.output()) infos[vi.name()] = &vi;
  auto typed_value = [&](const onnx::ValueInfoProto& vi) {
    const std::string where = path + ": value '" + checked_name(vi.name(), path, "value") + "'";
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
    node.name = np.name().empty() ? np.op_type() + "_" + std::to_string(n) : checked_name(np.name(), path, "node");
    node.op = np.op_type();
    const std::string where = path + ": " + node.describe();
    const bool qvit_domain = np.domain() == kQvitDomain;
    const bool default_domain = np.domain().empty() || np.domain() == "ai.onnx";
    if (!(qvit_domain && find_int_op_spec(node.op)) && !(default_domain && is_int_data_movement_op(node.op)))
      throw Error(where + ": unknown op '" + clip_for_message((np.domain().empty() ? "" : np.domain() + ":") + node.op) + "' (not in the " +
                  kIntOnnxFormat + " op set)");
    for (const auto& a : np.attribute())
      if (!node.attrs.emplace(a.name(), attr_from_proto(a, where)).second)
        throw Error(where + ": attribute '" + clip_for_message(a.name()) + "' is given twice");
    for (const auto& in : np.input()) {
      checked_name(in, path, "node input");
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
  // int8 (and unpacked int4) initializers stay int8 where they are only a QMatMul/QConv weight,
  // which the runtime reads at that width; anywhere else they are int32 like every other tensor.
  const std::set<int> weights = linear_weight_constants(g);
  for (size_t v = 0; v < g.values.size(); ++v) {
    Value& val = g.values[v];
    if (!val.constant || val.constant->dtype() != DType::Int8) continue;
    if (weights.count(static_cast<int>(v))) {
      val.dtype = DType::Int8;
    } else {
      val.constant = val.constant->cast(DType::Int32);
      val.dtype = DType::Int32;
    }
  }
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
  if (g.inputs.size() != 1) throw Error(g.source + ": an integer model has one input");
  check_boundary(model, g.source);
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

namespace {

// Everything after the bytes became a ModelProto: header, ONNX checker, graph, the whole IntGraph
// validation (int_graph_check.h) and the boundary metadata, each refusal one line naming `path`.
LoweredModel load_checked(const onnx::ModelProto& m, const std::string& path) {
  check_header(m, path);
  check_model_or_throw(m, path);
  LoweredModel lm;
  lm.graph = graph_from_proto(m, path);
  validate_int_graph(lm.graph, path);
  if (lm.graph.inputs.size() != 1) throw Error(path + ": an integer model has exactly one input");
  const Shape& in = lm.graph.value(lm.graph.inputs[0]).shape;
  if (in.empty() || std::any_of(in.begin(), in.end(), [](int64_t d) { return d < 1; }))
    throw Error(path + ": input shape " + shape_str(in) + " must have a batch axis and no empty axis");
  check_tensor_bytes(shape_numel(in), sizeof(int32_t), path + ": input of shape " + shape_str(in));
  read_boundary_metadata(m, path, lm);
  return lm;
}

// Messages echo values from the file (a format string, a family name, the ONNX checker's text):
// whatever they contain, the error stays one line.
LoweredModel load_model(const onnx::ModelProto& m, const std::string& path) {
  try {
    return load_checked(m, path);
  } catch (const Error& e) {
    std::string line = e.what();
    for (char& ch : line)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
    throw Error(line);
  }
}

}  // namespace

LoweredModel load_int_onnx(const std::string& path) { return load_model(read_model(path), path); }

LoweredModel load_int_onnx_bytes(const std::string& bytes, const std::string& source) {
  if (bytes.empty()) throw Error(source + ": file is empty");
  onnx::ModelProto m;
  if (!m.ParseFromString(bytes)) throw Error(source + ": not a valid ONNX model (protobuf parse failed: truncated or corrupt file?)");
  return load_model(m, source);
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
        const IntOpSpec* spec = find_int_op_spec(node.op_type());
        auto required = spec ? std::find_if(spec->attributes.begin(), spec->attributes.end(), [](const IntAttrRule& r) { return r.required; })
                             : std::vector<IntAttrRule>::const_iterator{};
        if (!spec || required == spec->attributes.end()) continue;
        auto* attrs = node.mutable_attribute();
        const std::string& key = required->name;
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
