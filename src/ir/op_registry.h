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
void register_fill_ops(OpTable& t);  // called by register_shape_ops
void register_reduce_ops(OpTable& t);
void register_nn_ops(OpTable& t);
void register_conv_ops(OpTable& t);
void register_pool_ops(OpTable& t);
void register_quantize_linear_ops(OpTable& t);

// A clear error naming the node unless `t` (input `what`) is float32.
void require_f32(const OpCall& c, const Tensor& t, const char* what);
// Normalizes a possibly negative axis against a rank, with a clear error. A rank-0 tensor has no
// axes, so every axis is out of range for it (ops that take scalars must not ask for an axis).
int normalize_axis(const OpCall& c, int64_t axis, int rank);
// Fails naming the node unless `t` has rank ≥ `min_rank` (`what` names the input).
void require_rank(const OpCall& c, const Tensor& t, int min_rank, const char* what);

// Shape arithmetic on values read from a model (dims, attributes, shape tensors): a·b and a+b of
// non-negative sizes, an Error naming the node when a value is negative or the result overflows
// int64 (util/limits.h's checked_mul/checked_add, with the node as context).
int64_t shape_mul(const OpCall& c, int64_t a, int64_t b);
int64_t shape_add(const OpCall& c, int64_t a, int64_t b);
// Product of s[begin, end). An empty tensor may declare dims whose partial products overflow
// ([0, 2^40, 2^40] holds no data), so kernels use this instead of multiplying dims themselves.
int64_t span_numel(const OpCall& c, const Shape& s, size_t begin, size_t end);
// Row-major strides of `s`, overflow-checked for the same reason.
std::vector<int64_t> checked_strides(const OpCall& c, const Shape& s);
// Values of input `i`, an int64 (or int32) tensor of rank ≤ 1: shapes, axes, pads, repeats,
// starts/ends. Any other type is an Error naming the node and `what`.
std::vector<int64_t> int_list_input(const OpCall& c, size_t i, const char* what);
// ONNX TensorProto.DataType code → DType (Cast's `to`, ConstantOfShape), with a clear error.
DType dtype_from_onnx_code(const OpCall& c, int64_t code);
// Numpy-style broadcast of two shapes.
Shape broadcast_shapes(const OpCall& c, const Shape& a, const Shape& b);

}  // namespace qvit
