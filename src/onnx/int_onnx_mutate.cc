// Hostile edits of an exported integer model (int_onnx_mutate.h). Test support: what it writes is
// meant to be refused (or run) by load_int_onnx, so nothing here validates anything.
#include "onnx/int_onnx_mutate.h"

#include <onnx/onnx_pb.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>

#include "intgraph/int_graph_check.h"
#include "util/error.h"

namespace qvit::testing {

namespace {

using nlohmann::json;

// The fuzzer's bytes as a stream of choices; past the end every choice is 0.
class Choices {
 public:
  Choices(const uint8_t* p, size_t n) : p_(p), n_(p ? n : 0) {}
  uint8_t byte() { return i_ < n_ ? p_[i_++] : 0; }
  bool exhausted() const { return i_ >= n_; }
  // A pick in [0, k): one byte for k <= 256, three above (initializers have many elements).
  size_t below(size_t k) {
    if (k <= 1) return 0;
    if (k <= 256) return byte() % k;
    return ((size_t{byte()} << 16) | (size_t{byte()} << 8) | byte()) % k;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
    return v;
  }

 private:
  const uint8_t* p_;
  size_t n_, i_ = 0;
};

int64_t add_sat(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

// A hostile value for an integer slot whose valid range is [lo, hi] and whose value is `orig`.
int64_t hostile_int(Choices& c, int64_t lo, int64_t hi, int64_t orig) {
  static const int64_t kShifts[] = {15, 16, 17, 30, 31, 32, 33, 62, 63, 64, 65, 128};
  const int64_t fixed[] = {0, -1, 1, add_sat(lo, -1), add_sat(hi, 1), lo, hi, add_sat(orig, 1), add_sat(orig, -1),
                           orig == INT64_MIN ? INT64_MAX : -orig, (orig > INT64_MAX / 2 || orig < INT64_MIN / 2) ? INT64_MAX : 2 * orig,
                           INT32_MAX, INT32_MIN, int64_t{INT32_MAX} + 1, int64_t{INT32_MIN} - 1, INT64_MAX, INT64_MIN};
  const size_t k = c.below(23);
  if (k < std::size(fixed)) return fixed[k];
  switch (k) {
    case 17: return kShifts[c.below(std::size(kShifts))];
    case 18: return int64_t{1} << (1 + c.below(62));
    case 19: return -(int64_t{1} << (1 + c.below(62)));
    case 20: return static_cast<int64_t>(c.u64());
    case 21: return static_cast<int64_t>(c.byte()) - 128;
    default: return add_sat(orig, static_cast<int64_t>(c.byte() % 7) - 3);
  }
}

double hostile_double(Choices& c, double orig) {
  static const double kValues[] = {0.0, -0.0, -1.0, 1.0, 1e308, -1e308, 5e-324, 1e-30, 1e30, 1e-300, 1e300, 2147483648.0,
                                   9.3e18, std::numeric_limits<double>::infinity(), std::nan("")};
  const size_t k = c.below(std::size(kValues) + 3);
  if (k < std::size(kValues)) return kValues[k];
  if (k == std::size(kValues)) return -orig;
  if (k == std::size(kValues) + 1) return orig * 1e10;
  return static_cast<double>(static_cast<int64_t>(c.u64())) * 1e-9;
}

// The range an attribute of `op` must be in (int_graph_check.h), or int32's when unknown.
const IntAttrRule* rule_for(const std::string& op, const std::string& name) {
  const IntOpSpec* spec = find_int_op_spec(op);
  if (!spec) return nullptr;
  for (const IntAttrRule& r : spec->attributes)
    if (r.name == name) return &r;
  return nullptr;
}

void set_hostile_attribute(onnx::AttributeProto& a, const std::string& op, Choices& c) {
  const IntAttrRule* r = rule_for(op, a.name());
  const int64_t lo = r ? r->lo : INT32_MIN, hi = r ? r->hi : INT32_MAX;
  switch (a.type()) {
    case onnx::AttributeProto::INT: a.set_i(hostile_int(c, lo, hi, a.i())); return;
    case onnx::AttributeProto::INTS: {
      auto* v = a.mutable_ints();
      const size_t op = c.below(4);
      if (op == 1) v->Add(hostile_int(c, lo, hi, 0));
      else if (op == 3) v->Clear();
      else if (!v->empty() && op == 2) v->RemoveLast();
      else if (!v->empty()) {
        const int k = static_cast<int>(c.below(static_cast<size_t>(v->size())));
        v->Set(k, hostile_int(c, lo, hi, v->Get(k)));
      }
      return;
    }
    case onnx::AttributeProto::FLOAT: a.set_f(static_cast<float>(hostile_double(c, a.f()))); return;
    case onnx::AttributeProto::STRING: a.set_s(c.below(2) ? std::string("SAME_UPPER") : std::string(1 + c.below(8), 'x')); return;
    default: a.clear_t(); return;
  }
}

void retype_attribute(onnx::AttributeProto& a, Choices& c) {
  const int64_t i = a.i();
  a.clear_i(), a.clear_ints(), a.clear_f(), a.clear_floats(), a.clear_s();
  switch (c.below(4)) {
    case 0: a.set_type(onnx::AttributeProto::INTS), a.add_ints(i), a.add_ints(i); return;
    case 1: a.set_type(onnx::AttributeProto::FLOAT), a.set_f(static_cast<float>(i) + 0.5f); return;
    case 2: a.set_type(onnx::AttributeProto::STRING), a.set_s(std::to_string(i)); return;
    default: a.set_type(onnx::AttributeProto::INT), a.set_i(i); return;
  }
}

void mutate_attribute(onnx::GraphProto& g, Choices& c) {
  if (g.node_size() == 0) return;
  onnx::NodeProto& node = *g.mutable_node(static_cast<int>(c.below(static_cast<size_t>(g.node_size()))));
  const size_t kind = c.below(6);
  if (kind == 5 || node.attribute_size() == 0) {
    // Add one: a known (often optional) attribute of the op, or one the format does not have.
    const IntOpSpec* spec = find_int_op_spec(node.op_type());
    onnx::AttributeProto* a = node.add_attribute();
    const size_t n = spec ? spec->attributes.size() : 0;
    const size_t pick = c.below(n + 1);
    a->set_name(pick < n ? spec->attributes[pick].name : std::string("qvit_unknown"));
    const bool ints = pick < n && spec->attributes[pick].kind == IntAttrRule::Ints;
    a->set_type(ints ? onnx::AttributeProto::INTS : onnx::AttributeProto::INT);
    if (ints)
      for (size_t k = 0, len = c.below(5); k < len; ++k) a->add_ints(hostile_int(c, 0, 1, 1));
    else
      a->set_i(hostile_int(c, 0, 1, 1));
    return;
  }
  const int index = static_cast<int>(c.below(static_cast<size_t>(node.attribute_size())));
  switch (kind) {
    case 0:
    case 1: set_hostile_attribute(*node.mutable_attribute(index), node.op_type(), c); return;
    case 2: node.mutable_attribute()->DeleteSubrange(index, 1); return;
    case 3: *node.add_attribute() = node.attribute(index); return;
    default: retype_attribute(*node.mutable_attribute(index), c); return;
  }
}

size_t elem_size(int32_t type) {
  switch (type) {
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::DOUBLE: return 8;
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::FLOAT: return 4;
    default: return 1;
  }
}

// Element count as stored: raw bytes or the typed field (0 when neither has data).
size_t stored_count(const onnx::TensorProto& t) {
  if (t.has_raw_data()) return t.raw_data().size() / elem_size(t.data_type());
  if (t.data_type() == onnx::TensorProto::INT64) return static_cast<size_t>(t.int64_data_size());
  return static_cast<size_t>(t.int32_data_size());
}

int64_t get_element(const onnx::TensorProto& t, size_t i) {
  if (!t.has_raw_data())
    return t.data_type() == onnx::TensorProto::INT64 ? t.int64_data(static_cast<int>(i)) : t.int32_data(static_cast<int>(i));
  const char* p = t.raw_data().data() + i * elem_size(t.data_type());
  switch (t.data_type()) {
    case onnx::TensorProto::INT64: { int64_t v; std::memcpy(&v, p, 8); return v; }
    case onnx::TensorProto::INT32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case onnx::TensorProto::INT8: return static_cast<int8_t>(*p);
    default: return static_cast<uint8_t>(*p);
  }
}

void set_element(onnx::TensorProto& t, size_t i, int64_t v) {
  if (!t.has_raw_data()) {
    if (t.data_type() == onnx::TensorProto::INT64) t.set_int64_data(static_cast<int>(i), v);
    else t.set_int32_data(static_cast<int>(i), static_cast<int32_t>(v));
    return;
  }
  char* p = t.mutable_raw_data()->data() + i * elem_size(t.data_type());
  switch (t.data_type()) {
    case onnx::TensorProto::INT64: std::memcpy(p, &v, 8); return;
    case onnx::TensorProto::INT32: { const int32_t x = static_cast<int32_t>(v); std::memcpy(p, &x, 4); return; }
    case onnx::TensorProto::FLOAT: { const float x = static_cast<float>(v); std::memcpy(p, &x, 4); return; }
    case onnx::TensorProto::DOUBLE: { const double x = static_cast<double>(v); std::memcpy(p, &x, 8); return; }
    default: *p = static_cast<char>(v); return;
  }
}

void mutate_initializer(onnx::GraphProto& g, Choices& c) {
  if (g.initializer_size() == 0) return;
  onnx::TensorProto& t = *g.mutable_initializer(static_cast<int>(c.below(static_cast<size_t>(g.initializer_size()))));
  switch (c.below(5)) {
    case 0:
    case 1: {
      const size_t n = stored_count(t);
      if (n == 0) return;
      const size_t i = c.below(n);
      // Requantizer tables [C,3]: the column's own range (pre_shift, m0, post_shift), else int32's or int8's.
      int64_t lo = INT32_MIN, hi = INT32_MAX;
      if (t.dims_size() == 2 && t.dims(1) == 3) {
        const int64_t his[3] = {kMaxPreShift, INT32_MAX, kMaxPostShift};
        lo = 0, hi = his[i % 3];
      } else if (t.data_type() == onnx::TensorProto::INT8) {
        lo = -128, hi = 127;
      }
      set_element(t, i, hostile_int(c, lo, hi, get_element(t, i)));
      return;
    }
    case 2: {
      static const int32_t kTypes[] = {onnx::TensorProto::FLOAT,  onnx::TensorProto::UINT8,   onnx::TensorProto::INT8,
                                       onnx::TensorProto::INT32,  onnx::TensorProto::INT64,   onnx::TensorProto::BOOL,
                                       onnx::TensorProto::DOUBLE, onnx::TensorProto::FLOAT16, onnx::TensorProto::UINT32,
                                       onnx::TensorProto::UNDEFINED, 99};
      t.set_data_type(kTypes[c.below(std::size(kTypes))]);
      return;
    }
    case 3: {
      auto* dims = t.mutable_dims();
      const size_t op = c.below(4);
      if (op == 1) dims->Add(1 + static_cast<int64_t>(c.below(3)));
      else if (op == 3) dims->Clear();
      else if (!dims->empty() && op == 2) dims->RemoveLast();
      else if (!dims->empty()) {
        const int k = static_cast<int>(c.below(static_cast<size_t>(dims->size())));
        dims->Set(k, hostile_int(c, 0, INT32_MAX, dims->Get(k)));
      }
      return;
    }
    default:
      if (t.has_raw_data()) t.mutable_raw_data()->resize(t.raw_data().size() * c.below(4) / 4);
      return;
  }
}

// Every value name of the graph, for rewiring.
std::vector<std::string> value_names(const onnx::GraphProto& g) {
  std::vector<std::string> names;
  for (const auto& i : g.input()) names.push_back(i.name());
  for (const auto& t : g.initializer()) names.push_back(t.name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) names.push_back(o);
  return names;
}

void mutate_wiring(onnx::GraphProto& g, Choices& c) {
  if (g.node_size() == 0) return;
  const int ni = static_cast<int>(c.below(static_cast<size_t>(g.node_size())));
  onnx::NodeProto& node = *g.mutable_node(ni);
  const std::vector<std::string> names = value_names(g);
  const std::string other = names.empty() ? std::string("x") : names[c.below(names.size())];
  auto pick = [&](const auto& field) { return static_cast<int>(c.below(static_cast<size_t>(field.size()))); };
  static const char* const kOps[] = {"QMatMul", "QConv", "QRequantize", "QAdd", "QShiftmax", "QIBertSoftmax", "QInt32SafeSoftmax",
                                     "QShiftGelu", "QIBertGelu", "QLayerNorm", "QLog2Codes", "QLog2MatMul", "QMean", "QClamp",
                                     "QMulConst", "QMaxPool", "Reshape", "Transpose", "Gather", "Concat", "Identity", "Relu"};
  const bool ins = node.input_size() > 0, outs = node.output_size() > 0;
  switch (c.below(10)) {
    case 0: if (ins) node.mutable_input()->DeleteSubrange(pick(node.input()), 1); return;
    case 1: if (ins) node.add_input(node.input(pick(node.input()))); return;
    case 2: if (ins) node.set_input(pick(node.input()), c.below(2) ? other : std::string()); else node.add_input(other); return;
    case 3: if (node.input_size() > 1) node.mutable_input()->SwapElements(0, pick(node.input())); return;
    case 4: if (outs) node.mutable_output()->DeleteSubrange(pick(node.output()), 1); return;
    case 5: node.add_output(c.below(2) ? other : node.name() + ":extra"); return;
    case 6: if (outs) node.set_output(pick(node.output()), c.below(2) ? other : std::string()); return;
    case 7: node.set_op_type(kOps[c.below(std::size(kOps))]); return;
    case 8: node.set_domain(c.below(2) ? std::string(node.domain().empty() ? "qvit" : "") : std::string("ai.onnx")); return;
    default: if (ni + 1 < g.node_size()) g.mutable_node()->SwapElements(ni, ni + 1); return;
  }
}

void mutate_value_info(onnx::GraphProto& g, Choices& c) {
  std::vector<onnx::ValueInfoProto*> infos;
  for (auto& v : *g.mutable_input()) infos.push_back(&v);
  for (auto& v : *g.mutable_output()) infos.push_back(&v);
  for (auto& v : *g.mutable_value_info()) infos.push_back(&v);
  if (infos.empty()) return;
  auto* tt = infos[c.below(infos.size())]->mutable_type()->mutable_tensor_type();
  auto* shape = tt->mutable_shape();
  static const int32_t kTypes[] = {onnx::TensorProto::FLOAT, onnx::TensorProto::INT64,  onnx::TensorProto::INT8,
                                   onnx::TensorProto::BOOL,  onnx::TensorProto::UINT16, onnx::TensorProto::INT32};
  switch (c.below(5)) {
    case 0: tt->set_elem_type(kTypes[c.below(std::size(kTypes))]); return;
    case 1:
      if (shape->dim_size()) {
        auto* d = shape->mutable_dim(static_cast<int>(c.below(static_cast<size_t>(shape->dim_size()))));
        if (c.below(6) == 0) d->set_dim_param("n");
        else d->set_dim_value(hostile_int(c, 1, INT32_MAX, d->dim_value()));
      }
      return;
    case 2: shape->add_dim()->set_dim_value(1 + static_cast<int64_t>(c.below(3))); return;
    case 3: if (shape->dim_size()) shape->mutable_dim()->RemoveLast(); return;
    default: tt->clear_shape(); return;
  }
}

void collect_pointers(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (j.is_object())
    for (const auto& [k, v] : j.items()) collect_pointers(v, at / k, out);
  else if (j.is_array())
    for (size_t i = 0; i < j.size(); ++i) collect_pointers(j[i], at / i, out);
}

void mutate_json(json& j, Choices& c) {
  std::vector<json::json_pointer> ptrs;
  collect_pointers(j, json::json_pointer(), ptrs);
  const json::json_pointer ptr = ptrs[c.below(ptrs.size())];
  json& target = j[ptr];
  switch (c.below(10)) {
    case 0: target = hostile_int(c, 0, 16, target.is_number_integer() ? target.get<int64_t>() : 0); return;
    case 1: target = hostile_double(c, target.is_number() ? target.get<double>() : 1.0); return;
    case 2: target = nullptr; return;
    case 3: target = std::string(c.below(2) ? "log_sqrt2" : "x"); return;
    case 4: target = json::array(); return;
    case 5: target = json::object(); return;
    case 6: target = c.below(2) == 1; return;
    case 7:
      if (!ptr.empty()) {
        json& parent = j[ptr.parent_pointer()];
        if (parent.is_object()) parent.erase(ptr.back());
        else if (parent.is_array()) parent.erase(static_cast<size_t>(std::stoul(ptr.back())));
      }
      return;
    case 8:
      if (!ptr.empty() && j[ptr.parent_pointer()].is_array()) j[ptr.parent_pointer()].push_back(json(target));
      else if (target.is_object()) target["qvit_unknown"] = 1;
      return;
    default:
      if (target.is_array() && !target.empty()) target.erase(target.size() - 1);
      else if (target.is_string()) target = target.get<std::string>() + "\x01\xc3\xbf";  // (raw invalid bytes: case 2 of mutate_metadata)
      return;
  }
}

void mutate_metadata(onnx::ModelProto& m, Choices& c) {
  if (m.metadata_props_size() == 0) return;
  const int k = static_cast<int>(c.below(static_cast<size_t>(m.metadata_props_size())));
  auto* kv = m.mutable_metadata_props(k);
  switch (c.below(8)) {
    case 0: m.mutable_metadata_props()->DeleteSubrange(k, 1); return;
    case 1: kv->set_value(kv->value().substr(0, kv->value().size() * c.below(4) / 4)); return;
    case 2: {
      std::string raw;
      for (size_t i = 0, n = c.below(16); i < n; ++i) raw.push_back(static_cast<char>(c.byte()));
      kv->set_value(raw);
      return;
    }
    case 3: *m.add_metadata_props() = *kv; return;
    default: {
      json j = json::parse(kv->value(), nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) j = kv->value();  // a plain string (qvit.format, qvit.nonlinear)
      mutate_json(j, c);
      kv->set_value(j.is_string() ? j.get<std::string>() : j.dump());
      return;
    }
  }
}

void mutate_opsets(onnx::ModelProto& m, Choices& c) {
  if (m.opset_import_size() == 0) return;
  auto* o = m.mutable_opset_import(static_cast<int>(c.below(static_cast<size_t>(m.opset_import_size()))));
  if (c.below(4) == 0) m.mutable_opset_import()->DeleteSubrange(0, 1);
  else o->set_version(hostile_int(c, 1, 17, o->version()));
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  if (!m.ParseFromString(bytes)) throw Error("int_onnx_mutate: the model to edit does not parse as ONNX");
  return m;
}

std::string serialize(const onnx::ModelProto& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

onnx::NodeProto& first_node(onnx::ModelProto& m, const std::string& op) {
  for (auto& n : *m.mutable_graph()->mutable_node())
    if (n.op_type() == op) return n;
  throw Error("int_onnx_mutate: the model has no " + op + " node");
}

onnx::TensorProto& initializer_of(onnx::ModelProto& m, const std::string& op, size_t input) {
  const onnx::NodeProto& n = first_node(m, op);
  if (input >= static_cast<size_t>(n.input_size())) throw Error("int_onnx_mutate: " + op + " has no input " + std::to_string(input));
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.name() == n.input(static_cast<int>(input))) return t;
  throw Error("int_onnx_mutate: input " + std::to_string(input) + " of " + op + " is not an initializer");
}

onnx::AttributeProto& attribute_of(onnx::ModelProto& m, const std::string& op, const std::string& name) {
  onnx::NodeProto& n = first_node(m, op);
  for (auto& a : *n.mutable_attribute())
    if (a.name() == name) return a;
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  return a;
}

}  // namespace

std::string mutate_int_onnx(const std::string& model_bytes, const uint8_t* choices, size_t n) {
  onnx::ModelProto m = parse(model_bytes);
  Choices c(choices, n);
  // Mutations after the bytes ran out would all be the same (every choice 0): stop there.
  for (size_t k = 0, count = 1 + c.below(3); k < count && (k == 0 || !c.exhausted()); ++k) {
    onnx::GraphProto& g = *m.mutable_graph();
    switch (c.below(16)) {
      case 0: case 1: case 2: case 3: mutate_attribute(g, c); break;
      case 4: case 5: case 6: case 7: mutate_initializer(g, c); break;
      case 8: case 9: mutate_wiring(g, c); break;
      case 10: case 11: mutate_value_info(g, c); break;
      case 12: case 13: case 14: mutate_metadata(m, c); break;
      default: mutate_opsets(m, c); break;
    }
  }
  return serialize(m);
}

std::string set_int_onnx_attribute(const std::string& model_bytes, const std::string& op, const std::string& attribute,
                                   int64_t value) {
  onnx::ModelProto m = parse(model_bytes);
  onnx::AttributeProto& a = attribute_of(m, op, attribute);
  a.clear_ints();
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(value);
  return serialize(m);
}

std::string set_int_onnx_attribute_ints(const std::string& model_bytes, const std::string& op, const std::string& attribute,
                                        const std::vector<int64_t>& values) {
  onnx::ModelProto m = parse(model_bytes);
  onnx::AttributeProto& a = attribute_of(m, op, attribute);
  a.clear_i();
  a.clear_ints();
  a.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a.add_ints(v);
  return serialize(m);
}

std::string set_int_onnx_initializer_element(const std::string& model_bytes, const std::string& op, size_t input,
                                             int64_t index, int64_t value) {
  onnx::ModelProto m = parse(model_bytes);
  onnx::TensorProto& t = initializer_of(m, op, input);
  if (index < 0 || static_cast<size_t>(index) >= stored_count(t))
    throw Error("int_onnx_mutate: initializer '" + t.name() + "' has no element " + std::to_string(index));
  set_element(t, static_cast<size_t>(index), value);
  return serialize(m);
}

std::string set_int_onnx_initializer_dims(const std::string& model_bytes, const std::string& op, size_t input,
                                          const std::vector<int64_t>& dims) {
  onnx::ModelProto m = parse(model_bytes);
  onnx::TensorProto& t = initializer_of(m, op, input);
  t.clear_dims();
  for (int64_t d : dims) t.add_dims(d);
  return serialize(m);
}

std::string drop_int_onnx_input(const std::string& model_bytes, const std::string& op, size_t input) {
  onnx::ModelProto m = parse(model_bytes);
  onnx::NodeProto& n = first_node(m, op);
  if (input >= static_cast<size_t>(n.input_size())) throw Error("int_onnx_mutate: " + op + " has no input " + std::to_string(input));
  n.mutable_input()->DeleteSubrange(static_cast<int>(input), 1);
  return serialize(m);
}

std::string set_int_onnx_metadata(const std::string& model_bytes, const std::string& key, const std::string& value) {
  onnx::ModelProto m = parse(model_bytes);
  for (auto& kv : *m.mutable_metadata_props())
    if (kv.key() == key) {
      kv.set_value(value);
      return serialize(m);
    }
  auto* kv = m.add_metadata_props();
  kv->set_key(key);
  kv->set_value(value);
  return serialize(m);
}

std::string int_onnx_metadata(const std::string& model_bytes, const std::string& key) {
  const onnx::ModelProto m = parse(model_bytes);
  for (const auto& kv : m.metadata_props())
    if (kv.key() == key) return kv.value();
  return "";
}

}  // namespace qvit::testing
