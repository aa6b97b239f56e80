#pragma once
// Synthesizes ONNX model bytes from a plain description, for tests and fuzz harnesses that need
// models (valid or hostile) without ONNX/protobuf headers: only src/onnx/ sees those. Whatever the
// description says is written as is — wrong attribute lengths, dims that do not match the data,
// tensors without data — so that import_onnx_bytes can be fed what a malicious file would hold.
// Cheap enough to run per fuzz iteration: one protobuf message built and serialized.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace qvit {

struct SynthInput {
  std::string name;
  DType dtype = DType::Float32;
  // One entry per axis; nullopt writes a dynamic dim (dim_param "N").
  std::vector<std::optional<int64_t>> dims;
  bool has_shape = true;  // false: declare the type without any shape
};

struct SynthInitializer {
  std::string name;
  Tensor value;  // element type and data (raw_data)
  // Dims written instead of value.shape(): with the same data, a size mismatch.
  std::optional<Shape> declared_dims;
  bool omit_data = false;  // write the dims (declared or the value's) but no data field at all
};

struct SynthNode {
  std::string op_type;
  std::vector<std::string> inputs;   // "" = an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, AttrValue> attrs;
  std::string name;    // empty: unnamed (the importer names it "<Op>_<index>")
  std::string domain;  // empty: the default ONNX domain
};

struct SynthOutput {
  std::string name;
  DType dtype = DType::Float32;
  // The declared shape; nullopt writes an empty shape (rank 0: the ONNX checker requires a shape
  // on graph outputs, and qvit ignores output shapes).
  std::optional<Shape> shape;
};

struct SynthModel {
  std::vector<SynthInput> inputs;
  std::vector<SynthInitializer> initializers;
  std::vector<SynthNode> nodes;
  std::vector<SynthOutput> outputs;
  int64_t opset = 17;      // default-domain opset; < 0 imports none
  int64_t ir_version = 8;
  // Extra (domain, version) opset imports, e.g. {"com.microsoft", 1}.
  std::vector<std::pair<std::string, int64_t>> extra_opsets;
  // Also list every initializer as a graph input (required by IR version < 4). Defaults to
  // exactly that: true below IR version 4.
  std::optional<bool> initializers_as_inputs;
};

// The serialized ModelProto.
std::string synth_onnx_bytes(const SynthModel& model);

// A one-node model: `inputs` become initializers (name "in<k>"), except those at positions in
// `graph_inputs`, which become graph inputs of the tensor's type and shape; the node writes
// outputs "out0".."out<n-1>", all graph outputs. An undefined Tensor marks an omitted input.
SynthModel single_node_model(const std::string& op_type, const std::vector<Tensor>& inputs,
                             const std::map<std::string, AttrValue>& attrs, size_t num_outputs = 1,
                             const std::vector<size_t>& graph_inputs = {}, int64_t opset = 17);

}  // namespace qvit
