#pragma once
// ONNX → float IR. The only module (with onnx_export, later) that sees ONNX/protobuf types.
// Loading validates the model (protobuf parse, IR version, opset, ONNX checker, supported ops),
// converts it to a Graph with a static input shape, folds every shape/constant subgraph and fuses
// LayerNorm, GELU and Linear patterns. Every failure is one qvit::Error line naming file and node.
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace qvit {

struct ImportOptions {
  int64_t batch = 1;                          // replaces a dynamic leading dimension
  std::map<std::string, Shape> input_shapes;  // explicit static shapes per input name
  std::vector<Shape> input_shapes_by_position;  // or per input position (used when non-empty)
  bool fold = true;                           // fold constant/shape subgraphs
  bool fuse = true;                           // form LayerNorm / Gelu / Linear IR ops
};

Graph import_onnx(const std::string& path, const ImportOptions& options = {});
// Same, from bytes in memory (`source` names them in messages).
Graph import_onnx_bytes(const std::string& bytes, const std::string& source, const ImportOptions& options = {});

struct UnsupportedNode {
  std::string op;    // op type, "domain:Op" outside the default domain
  std::string node;  // node name (or "Op_<index>" for an unnamed node)
};
// Nodes of the model at `path` whose op qvit cannot run; empty if all are supported. Parses the
// model but does not convert it, so `qvit inspect` can list them all.
std::vector<UnsupportedNode> find_unsupported_nodes(const std::string& path);
// The one message every command gives for them: grouped by op type, with a count and the first
// node names of each ("m.onnx: 3 node(s) of 1 op type(s) qvit cannot run: MaxPool ×3 ('a', …)").
std::string describe_unsupported(const std::string& source, const std::vector<UnsupportedNode>& nodes);

// Reads an ONNX TensorProto file (the `test_data_set_*/input_0.pb` layout of ONNX's tests).
Tensor load_tensor_pb(const std::string& path);

}  // namespace qvit
