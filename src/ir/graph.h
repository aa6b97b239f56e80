#pragma once
// The float IR: a topologically ordered list of nodes over numbered values. Ops keep ONNX's names
// and semantics, plus a few fused IR ops the importer forms so later stages see one node per
// quantizable concept: `Linear` (x·W + b, W constant [K,N]), `LayerNorm` (over the last axis,
// attrs epsilon) and `Gelu` (exact erf form). Values that are constants carry their data.
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ir/tensor.h"

namespace qvit {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>, Tensor>;

struct Node {
  std::string name;
  std::string op;
  std::vector<int> inputs;   // value ids; -1 marks an omitted optional input
  std::vector<int> outputs;  // value ids
  std::map<std::string, AttrValue> attrs;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  int64_t attr_int(const std::string& key) const;
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  const Tensor& attr_tensor(const std::string& key) const;
  // "node 'name' (Op)" for error messages.
  std::string describe() const;
};

struct Value {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;               // static shape (known after import)
  std::optional<Tensor> constant;
  int producer = -1;         // node index, -1 for graph inputs and constants
};

class Graph {
 public:
  std::string source;        // file the graph came from, for messages
  int64_t opset = 0;
  std::vector<Value> values;
  std::vector<Node> nodes;   // topological order
  std::vector<int> inputs;   // non-constant graph inputs
  std::vector<int> outputs;

  int add_value(Value v);
  int add_constant(std::string name, Tensor t);
  // Value id by name, or -1.
  int find_value(const std::string& name) const;
  const Value& value(int id) const { return values.at(static_cast<size_t>(id)); }
  Value& value(int id) { return values.at(static_cast<size_t>(id)); }
  bool is_constant(int id) const { return id >= 0 && values[static_cast<size_t>(id)].constant.has_value(); }
  const Tensor& constant(int id) const;

  // Recomputes producers and the consumers index after nodes were edited.
  void rebuild_index();
  // Node indices that read value `id` (valid after rebuild_index()).
  const std::vector<int>& consumers(int id) const;
  // Removes nodes whose outputs nobody reads (graph outputs count as read) and unused values' data.
  void remove_dead_nodes();
  // Parameter count: elements of float constants feeding Linear/Conv/MatMul/Gemm/LayerNorm/Add etc.
  int64_t parameter_count() const;

 private:
  std::vector<std::vector<int>> consumers_;
  std::map<std::string, int> by_name_;
};

}  // namespace qvit
