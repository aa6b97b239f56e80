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

// Nodes of the model at `path` whose op qvit cannot run ("name (Op)" each); empty if all are
// supported. Parses the model but does not convert it, so `qvit inspect` can list them all.
std::vector<std::string> find_unsupported_nodes(const std::string& path);

// Reads an ONNX TensorProto file (the `test_data_set_*/input_0.pb` layout of ONNX's tests).
Tensor load_tensor_pb(const std::string& path);

}  // namespace qvit
