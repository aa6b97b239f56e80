#include "onnx/onnx_import.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "ir/fold.h"
#include "ir/fuse.h"
#include "ir/op_registry.h"

namespace qvit {
namespace {

// IR versions this importer understands (ONNX 1.12 writes up to 8).
constexpr int64_t kMinIrVersion = 3;
constexpr int64_t kMaxIrVersion = 8;
constexpr int64_t kMinOpset = 1;
constexpr int64_t kMaxOpset = 17;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error(path + ": read error");
  return ss.str();
}

DType dtype_from_proto(int32_t t, const std::string& where) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DType::Float32;
    case onnx::TensorProto::DOUBLE: return DType::Float64;
    case onnx::TensorProto::INT64: return DType::Int64;
    case onnx::TensorProto::INT32: return DType::Int32;
    case onnx::TensorProto::INT8: return DType::Int8;
    case onnx::TensorProto::UINT8: return DType::UInt8;
    case onnx::TensorProto::BOOL: return DType::Bool;
    default:
      throw Error(where + ": unsupported element type " +
                  onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(t)));
  }
}

Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& where) {
  if (p.data_location() == onnx::TensorProto::EXTERNAL)
    throw Error(where + ": tensor '" + p.name() + "' uses external data, which is not supported");
  const DType dt = dtype_from_proto(p.data_type(), where + ": tensor '" + p.name() + "'");
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) throw Error(where + ": tensor '" + p.name() + "' has a negative dimension");
  Tensor t(dt, shape);
  const size_t bytes = t.nbytes();
  auto bad_size = [&](size_t got) {
    return Error(where + ": tensor '" + p.name() + "' of shape " + shape_str(shape) + " holds " + std::to_string(got) +
                 " data bytes/elements, expected " + std::to_string(bytes) + " bytes");
  };
  if (p.has_raw_data()) {
    if (p.raw_data().size() != bytes) throw bad_size(p.raw_data().size());
    if (bytes > 0) std::memcpy(t.raw(), p.raw_data().data(), bytes);
    return t;
  }
  const auto n = static_cast<size_t>(t.numel());
  auto copy_from = [&](const auto& field, auto tag) {
    using T = decltype(tag);
    if (static_cast<size_t>(field.size()) != n) throw bad_size(static_cast<size_t>(field.size()));
    T* dst = reinterpret_cast<T*>(t.raw());
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(field.Get(static_cast<int>(i)));
  };
  switch (dt) {
    case DType::Float32: copy_from(p.float_data(), float{}); break;
    case DType::Float64: copy_from(p.double_data(), double{}); break;
    case DType::Int64: copy_from(p.int64_data(), int64_t{}); break;
    case DType::Int32: copy_from(p.int32_data(), int32_t{}); break;
    case DType::Int8: copy_from(p.int32_data(), int8_t{}); break;
    case DType::UInt8: copy_from(p.int32_data(), uint8_t{}); break;
    case DType::Bool: copy_from(p.int32_data(), uint8_t{}); break;
  }
  return t;
}

AttrValue attr_from_proto(const onnx::AttributeProto& a, const std::string& where) {
  switch (a.type()) {
    case onnx::AttributeProto::INT: return a.i();
    case onnx::AttributeProto::FLOAT: return a.f();
    case onnx::AttributeProto::STRING: return a.s();
    case onnx::AttributeProto::INTS: return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case onnx::AttributeProto::FLOATS: return std::vector<float>(a.floats().begin(), a.floats().end());
    case onnx::AttributeProto::TENSOR: return tensor_from_proto(a.t(), where);
    default:
      throw Error(where + ": attribute '" + a.name() + "' has unsupported type " +
                  onnx::AttributeProto::AttributeType_Name(a.type()));
  }
}

int64_t default_domain_opset(const onnx::ModelProto& m, const std::string& src) {
  int64_t opset = -1;
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  if (opset < 0) throw Error(src + ": model imports no version of the default ONNX operator set");
  if (opset < kMinOpset || opset > kMaxOpset)
    throw Error(src + ": opset " + std::to_string(opset) + " is not supported (supported: " + std::to_string(kMinOpset) +
                "–" + std::to_string(kMaxOpset) + ")");
  return opset;
}

void validate_model(const onnx::ModelProto& m, const std::string& src) {
  if (!m.has_ir_version() || m.ir_version() < kMinIrVersion || m.ir_version() > kMaxIrVersion)
    throw Error(src + ": ONNX IR version " + std::to_string(m.ir_version()) + " is not supported (supported: " +
                std::to_string(kMinIrVersion) + "–" + std::to_string(kMaxIrVersion) + ")");
  if (!m.has_graph()) throw Error(src + ": model has no graph");
  // Undefined inputs get a clearer message than the checker's topological-order complaint.
  std::set<std::string> defined;
  for (const auto& init : m.graph().initializer()) defined.insert(init.name());
  for (const auto& in : m.graph().input()) defined.insert(in.name());
  for (int n = 0; n < m.graph().node_size(); ++n) {
    const auto& np = m.graph().node(n);
    for (const auto& in : np.input())
      if (!in.empty() && !defined.count(in))
        throw Error(src + ": node '" + (np.name().empty() ? np.op_type() + "_" + std::to_string(n) : np.name()) + "' (" +
                    np.op_type() + "): input '" + in + "' is not an initializer, a graph input or an earlier node's output");
    for (const auto& out : np.output()) defined.insert(out);
  }
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    // The checker's messages span lines; keep one line.
    for (auto& ch : msg)
      if (ch == '\n') ch = ' ';
    while (!msg.empty() && msg.back() == ' ') msg.pop_back();
    throw Error(src + ": ONNX checker: " + msg);
  }
}

Shape input_shape(const onnx::ValueInfoProto& vi, size_t position, const ImportOptions& opt, const std::string& src) {
  if (position < opt.input_shapes_by_position.size()) return opt.input_shapes_by_position[position];
  if (auto it = opt.input_shapes.find(vi.name()); it != opt.input_shapes.end()) return it->second;
  if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape())
    throw Error(src + ": input '" + vi.name() + "' has no declared shape; pass one explicitly");
  Shape s;
  const auto& dims = vi.type().tensor_type().shape().dim();
  for (int i = 0; i < dims.size(); ++i) {
    const auto& d = dims[i];
    if (d.has_dim_value() && d.dim_value() > 0) {
      s.push_back(d.dim_value());
    } else if (i == 0) {
      s.push_back(opt.batch);  // dynamic batch
    } else {
      throw Error(src + ": input '" + vi.name() + "' dimension " + std::to_string(i) + " is dynamic ('" + d.dim_param() +
                  "'); pass a static input shape");
    }
  }
  return s;
}

Graph convert(const onnx::ModelProto& m, const std::string& src, const ImportOptions& opt) {
  Graph g;
  g.source = src;
  g.opset = default_domain_opset(m, src);
  const auto& gp = m.graph();
  std::set<std::string> initializer_names;
  for (const auto& init : gp.initializer()) {
    g.add_constant(init.name(), tensor_from_proto(init, src));
    initializer_names.insert(init.name());
  }
  for (const auto& vi : gp.input()) {
    if (initializer_names.count(vi.name())) continue;  // an initializer with a default: stays constant
    Value v;
    v.name = vi.name();
    v.dtype = dtype_from_proto(vi.type().tensor_type().elem_type(), src + ": input '" + vi.name() + "'");
    v.shape = input_shape(vi, g.inputs.size(), opt, src);
    g.inputs.push_back(g.add_value(std::move(v)));
  }
  std::vector<std::string> unsupported;
  for (int n = 0; n < gp.node_size(); ++n) {
    const auto& np = gp.node(n);
    Node node;
    node.name = np.name().empty() ? np.op_type() + "_" + std::to_string(n) : np.name();
    node.op = np.op_type();
    const std::string where = src + ": " + node.describe();
    if (!np.domain().empty() && np.domain() != "ai.onnx") {
      unsupported.push_back(node.describe() + " in domain '" + np.domain() + "'");
      continue;
    }
    if (!find_op(node.op)) {
      unsupported.push_back(node.describe());
      continue;
    }
    for (const auto& a : np.attribute()) node.attrs[a.name()] = attr_from_proto(a, where);
    for (const auto& in : np.input()) {
      if (in.empty()) { node.inputs.push_back(-1); continue; }
      const int id = g.find_value(in);
      if (id < 0)
        throw Error(where + ": input '" + in + "' is not produced by any node, initializer or graph input");
      node.inputs.push_back(id);
    }
    for (const auto& out : np.output()) {
      if (out.empty()) { node.outputs.push_back(-1); continue; }
      Value v;
      v.name = out;
      v.producer = static_cast<int>(g.nodes.size());
      node.outputs.push_back(g.add_value(std::move(v)));
    }
    g.nodes.push_back(std::move(node));
  }
  if (!unsupported.empty()) {
    std::string list;
    for (size_t i = 0; i < unsupported.size() && i < 5; ++i) list += (i ? ", " : "") + unsupported[i];
    if (unsupported.size() > 5) list += ", … (" + std::to_string(unsupported.size()) + " in all)";
    throw Error(src + ": unsupported op: " + list);
  }
  for (const auto& o : gp.output()) {
    const int id = g.find_value(o.name());
    if (id < 0) throw Error(src + ": graph output '" + o.name() + "' is not produced by any node");
    g.outputs.push_back(id);
  }
  g.rebuild_index();
  return g;
}

}  // namespace

Graph import_onnx_bytes(const std::string& bytes, const std::string& source, const ImportOptions& options) {
  onnx::ModelProto model;
  if (bytes.empty()) throw Error(source + ": file is empty");
  if (!model.ParseFromString(bytes))
    throw Error(source + ": not a valid ONNX model (protobuf parse failed: truncated or corrupt file?)");
  validate_model(model, source);
  Graph g = convert(model, source, options);
  model.Clear();  // free the proto copy of the weights before folding allocates
  const size_t parsed = g.nodes.size();
  if (options.fold) fold_constants(g);
  const size_t folded = g.nodes.size();
  if (options.fuse) fuse_patterns(g);
  spdlog::debug("{}: opset {}, {} nodes → {} after constant folding → {} after fusion", source, g.opset, parsed, folded,
                g.nodes.size());
  return g;
}

Graph import_onnx(const std::string& path, const ImportOptions& options) {
  return import_onnx_bytes(read_file(path), path, options);
}

std::vector<std::string> find_unsupported_nodes(const std::string& path) {
  onnx::ModelProto model;
  if (!model.ParseFromString(read_file(path)))
    throw Error(path + ": not a valid ONNX model (protobuf parse failed: truncated or corrupt file?)");
  std::vector<std::string> out;
  for (int n = 0; n < model.graph().node_size(); ++n) {
    const auto& np = model.graph().node(n);
    const bool default_domain = np.domain().empty() || np.domain() == "ai.onnx";
    if (!default_domain || !find_op(np.op_type()))
      out.push_back((np.name().empty() ? np.op_type() + "_" + std::to_string(n) : np.name()) + " (" +
                    (default_domain ? "" : np.domain() + ":") + np.op_type() + ")");
  }
  return out;
}

Tensor load_tensor_pb(const std::string& path) {
  onnx::TensorProto p;
  const std::string bytes = read_file(path);
  if (!p.ParseFromString(bytes)) throw Error(path + ": not a valid ONNX TensorProto");
  return tensor_from_proto(p, path);
}

}  // namespace qvit
