#pragma once
// The float op set: one function per op type, looked up by name once per node when a graph is
// planned. Kernels receive their inputs (nullptr for omitted optional ones) and fill their outputs.
#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace qvit {

struct OpCall {
  const Node& node;
  std::vector<const Tensor*> in;
  int64_t opset;
  // Data the executor prepared once for this node (e.g. packed weights for Linear), or null.
  const void* prepared = nullptr;
  // Per-run state the caller passed to Executor::run (e.g. the integer runtime's truncation
  // counters), or null.
  void* context = nullptr;

  const Tensor& input(size_t i) const;              // required input; clear error if absent
  const Tensor* optional_input(size_t i) const { return i < in.size() ? in[i] : nullptr; }
  [[noreturn]] void fail(const std::string& what) const;  // Error naming the node
};

using OpFn = void (*)(const OpCall& call, std::vector<Tensor>& out);
// Op type → kernel (nullptr when unsupported); find_op below is the float op set's.
using OpLookup = OpFn (*)(const std::string& op_type);

// nullptr when the op type is not supported.
OpFn find_op(const std::string& op_type);
std::vector<std::string> supported_ops();

// Registration, one function per op family file (explicit calls: static initializers in a
// static library would be dropped by the linker).
using OpTable = std::vector<std::pair<std::string, OpFn>>;
void register_elementwise_ops(OpTable& t);
void register_shape_ops(OpTable& t);
void register_reduce_ops(OpTable& t);
void register_nn_ops(OpTable& t);
void register_pool_ops(OpTable& t);
void register_quantize_linear_ops(OpTable& t);

// Normalizes a possibly negative axis against a rank, with a clear error.
int normalize_axis(const OpCall& c, int64_t axis, int rank);
// ONNX TensorProto.DataType code → DType (Cast's `to`, ConstantOfShape), with a clear error.
DType dtype_from_onnx_code(const OpCall& c, int64_t code);
// Numpy-style broadcast of two shapes.
Shape broadcast_shapes(const OpCall& c, const Shape& a, const Shape& b);

}  // namespace qvit
