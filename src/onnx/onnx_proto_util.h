#pragma once
// IR ⇄ ONNX protobuf conversions shared by the exporters (int_onnx_export, qdq_export) and the
// integer-model loader. Internal to src/onnx/: only this folder may include ONNX/protobuf headers.
#include <onnx/onnx_pb.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace qvit::onnx_util {

// The operator set both exporters write (ONNX 1.12: IR version 8, default-domain opset 17).
inline constexpr int64_t kExportIrVersion = 8;
inline constexpr int64_t kExportOpset = 17;

int32_t proto_elem_type(DType t);
DType dtype_from_proto(int32_t elem_type, const std::string& where);

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p);
Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& where);
void attr_to_proto(const std::string& key, const AttrValue& v, onnx::AttributeProto* a, const std::string& where);
AttrValue attr_from_proto(const onnx::AttributeProto& a, const std::string& where);
void set_value_info(onnx::ValueInfoProto* vi, const std::string& name, DType dtype, const Shape& shape);

// Unique names for an ONNX graph, which is SSA by name: the first user of a name keeps it, later
// ones get "name#k".
class UniqueNames {
 public:
  std::string fresh(const std::string& base);

 private:
  std::set<std::string> taken_;
  std::map<std::string, int> next_suffix_;
};

// ONNX names for every value of `g` (IR value names need not be unique — lowering and folding reuse
// constant names — nor non-empty), reserved in `names`.
std::vector<std::string> unique_value_names(const Graph& g, UniqueNames& names);

// Exports refuse graphs imported at an opset whose data-movement ops differ from opset 17's
// (axes/splits as attributes before 13).
void require_exportable_opset(const Graph& g, const std::string& what);

// Runs onnx::checker::check_model; a failure becomes one qvit::Error line prefixed with `source`.
void check_model_or_throw(const onnx::ModelProto& m, const std::string& source);
// Serializes, checks and writes atomically.
void write_model(const onnx::ModelProto& m, const std::string& path);
// Reads and parses an ONNX file; a clear error when it is missing, empty, truncated or corrupt.
onnx::ModelProto read_model(const std::string& path);
// metadata_props value for `key`, or nullptr.
const std::string* find_metadata(const onnx::ModelProto& m, const std::string& key);
void add_metadata(onnx::ModelProto& m, const std::string& key, const std::string& value);

}  // namespace qvit::onnx_util
