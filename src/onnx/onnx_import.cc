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
#include "onnx/onnx_proto_util.h"

namespace qvit {
namespace {

using onnx_util::attr_from_proto;
using onnx_util::dtype_from_proto;
using onnx_util::tensor_from_proto;

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

// The static shape of graph input `vi`; sets `dynamic_batch` when its leading dimension was
// dynamic and is replaced by the run batch.
Shape input_shape(const onnx::ValueInfoProto& vi, size_t position, const ImportOptions& opt, const std::string& src,
                  bool& dynamic_batch) {
  dynamic_batch = false;
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
      dynamic_batch = true;
    } else {
      throw Error(src + ": input '" + vi.name() + "' dimension " + std::to_string(i) + " is dynamic ('" + d.dim_param() +
                  "'); pass a static input shape");
    }
  }
  return s;
}

std::string node_name(const onnx::NodeProto& np, int index) {
  return np.name().empty() ? np.op_type() + "_" + std::to_string(index) : np.name();
}

// The op's name as messages show it: "MaxPool", or "com.microsoft:Gelu" outside the default domain.
std::string qualified_op(const onnx::NodeProto& np) {
  const bool default_domain = np.domain().empty() || np.domain() == "ai.onnx";
  return default_domain ? np.op_type() : np.domain() + ":" + np.op_type();
}

bool is_supported(const onnx::NodeProto& np) {
  return (np.domain().empty() || np.domain() == "ai.onnx") && find_op(np.op_type());
}

Graph convert(const onnx::ModelProto& m, const std::string& src, const ImportOptions& opt, FoldOptions& fold) {
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
    bool dynamic_batch = false;
    v.shape = input_shape(vi, g.inputs.size(), opt, src, dynamic_batch);
    if (dynamic_batch) fold.dynamic_batch_inputs.push_back(static_cast<int>(g.inputs.size()));
    g.inputs.push_back(g.add_value(std::move(v)));
  }
  std::vector<UnsupportedNode> unsupported;
  for (int n = 0; n < gp.node_size(); ++n) {
    const auto& np = gp.node(n);
    Node node;
    node.name = node_name(np, n);
    node.op = np.op_type();
    const std::string where = src + ": " + node.describe();
    // An unsupported node still defines its outputs, so that its readers do not report them as
    // dangling: the one message is the list of unsupported ops below.
    const bool supported = is_supported(np);
    if (!supported) unsupported.push_back({qualified_op(np), node.name});
    if (supported) {
      for (const auto& a : np.attribute()) node.attrs[a.name()] = attr_from_proto(a, where);
      for (const auto& in : np.input()) {
        if (in.empty()) { node.inputs.push_back(-1); continue; }
        const int id = g.find_value(in);
        if (id < 0)
          throw Error(where + ": input '" + in + "' is not produced by any node, initializer or graph input");
        node.inputs.push_back(id);
      }
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
  if (!unsupported.empty()) throw Error(describe_unsupported(src, unsupported));
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
  FoldOptions fold;
  Graph g = convert(model, source, options, fold);
  model.Clear();  // free the proto copy of the weights before folding allocates
  const size_t parsed = g.nodes.size();
  size_t folded = parsed;
  try {
    if (options.fold) fold_constants(g, fold);
    folded = g.nodes.size();
    if (options.fuse) fuse_patterns(g);
  } catch (const Error& e) {
    // Kernels name the node; the user also needs the file ("m.onnx: node 'x' (Op): ...").
    const std::string what = e.what();
    if (what.rfind(source + ":", 0) == 0) throw;
    throw Error(source + ": " + what);
  }
  spdlog::debug("{}: opset {}, {} nodes → {} after constant folding → {} after fusion", source, g.opset, parsed, folded,
                g.nodes.size());
  return g;
}

Graph import_onnx(const std::string& path, const ImportOptions& options) {
  return import_onnx_bytes(read_file(path), path, options);
}

std::vector<UnsupportedNode> find_unsupported_nodes(const std::string& path) {
  onnx::ModelProto model;
  if (!model.ParseFromString(read_file(path)))
    throw Error(path + ": not a valid ONNX model (protobuf parse failed: truncated or corrupt file?)");
  std::vector<UnsupportedNode> out;
  for (int n = 0; n < model.graph().node_size(); ++n) {
    const auto& np = model.graph().node(n);
    if (!is_supported(np)) out.push_back({qualified_op(np), node_name(np, n)});
  }
  return out;
}

std::string describe_unsupported(const std::string& source, const std::vector<UnsupportedNode>& nodes) {
  constexpr size_t kNamesPerOp = 3, kOpTypes = 8;
  std::vector<std::pair<std::string, std::vector<std::string>>> by_op;  // in order of first appearance
  for (const auto& u : nodes) {
    auto it = std::find_if(by_op.begin(), by_op.end(), [&](const auto& e) { return e.first == u.op; });
    if (it == by_op.end()) it = by_op.insert(by_op.end(), {u.op, {}});
    it->second.push_back(u.node);
  }
  std::string msg = source + ": " + std::to_string(nodes.size()) + " node(s) of " + std::to_string(by_op.size()) +
                    " op type(s) qvit cannot run: ";
  for (size_t i = 0; i < by_op.size() && i < kOpTypes; ++i) {
    const auto& [op, names] = by_op[i];
    msg += (i ? "; " : "") + op + " ×" + std::to_string(names.size()) + " (";
    for (size_t k = 0; k < names.size() && k < kNamesPerOp; ++k) msg += (k ? ", '" : "'") + names[k] + "'";
    if (names.size() > kNamesPerOp) msg += ", …";
    msg += ")";
  }
  if (by_op.size() > kOpTypes) msg += "; and " + std::to_string(by_op.size() - kOpTypes) + " more op type(s)";
  return msg;
}

Tensor load_tensor_pb(const std::string& path) {
  onnx::TensorProto p;
  const std::string bytes = read_file(path);
  if (!p.ParseFromString(bytes)) throw Error(path + ": not a valid ONNX TensorProto");
  return tensor_from_proto(p, path);
}

}  // namespace qvit
