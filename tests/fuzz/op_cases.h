#pragma once
// The op table shared by the op sweep (tests/unit/op_sweep_test.cc) and the onnx_struct fuzz
// generator: for every op of the float op set, one valid call (its inputs, attributes and output
// count) plus which inputs and attributes the generators mutate into hostile variants. An op without an entry fails OpSweep.EveryOpHasAnEntry and still gets the
// generic sweep, so a new op is covered from the day it is registered.
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace qvit::sweep {

// How the generator treats an input. Data: any tensor. Ints: a 1-D int64 list (shape, axes,
// pads, starts…), which also gets hostile values. Scalar: a one-element tensor (Range bounds).
enum class Role { Data, Ints, Scalar };
enum class AttrKind { Int, Ints, Float, String };

struct InputSpec {
  Role role;
  Tensor base;
};

struct OpEntry {
  std::string op;
  std::vector<InputSpec> inputs;
  std::map<std::string, AttrValue> attrs;          // of the valid call
  std::map<std::string, AttrKind> sweep_attrs;     // attributes to mutate (present or not)
  size_t outputs = 1;
  bool onnx = true;  // false: an IR-only op (formed by fusion; no ONNX schema), swept on the IR only
  std::string label = {};  // tells apart several entries of one op
};

inline Tensor f32(Shape s) {
  Tensor t(DType::Float32, std::move(s));
  auto v = t.values<float>();
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.37f * static_cast<float>(i % 7) - 0.9f;
  return t;
}
inline Tensor ints(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }
inline Tensor i64(Shape s, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(std::move(s), v); }
inline Tensor bools(Shape s) {
  Tensor t(DType::Bool, std::move(s));
  auto v = t.values<bool>();
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 3 != 1;
  return t;
}

inline std::vector<OpEntry> sweep_entries() {
  using R = Role;
  using K = AttrKind;
  const InputSpec x23{R::Data, f32({2, 3})}, x234{R::Data, f32({2, 3, 4})};
  std::vector<OpEntry> e;
  for (const char* op : {"Exp", "Log", "Sqrt", "Reciprocal", "Tanh", "Sigmoid", "Floor", "Ceil", "Round", "Sin", "Cos",
                         "Softplus", "Erf", "Abs", "Neg", "Sign", "Relu", "Identity", "Size"})
    e.push_back({op, {x23}, {}, {}});
  e.push_back({"Not", {{R::Data, bools({2, 3})}}, {}, {}});
  e.push_back({"GlobalAveragePool", {{R::Data, f32({1, 2, 3, 3})}}, {}, {}});
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    e.push_back({op, {x23, {R::Data, f32({3})}}, {}, {}});
  e.push_back({"Mod", {x23, {R::Data, f32({3})}}, {{"fmod", int64_t{1}}}, {{"fmod", K::Int}}});
  for (const char* op : {"And", "Or", "Xor"}) e.push_back({op, {{R::Data, bools({2, 3})}, {R::Data, bools({3})}}, {}, {}});
  for (const char* op : {"Max", "Min", "Sum", "Mean"}) e.push_back({op, {x23, {R::Data, f32({3})}, {R::Data, f32({1, 3})}}, {}, {}});
  e.push_back({"Where", {{R::Data, bools({2, 3})}, x23, {R::Data, f32({3})}}, {}, {}});
  e.push_back({"Clip", {x23, {R::Scalar, Tensor::scalar(-0.5f)}, {R::Scalar, Tensor::scalar(0.5f)}}, {}, {{"min", K::Float}, {"max", K::Float}}});
  e.push_back({"Cast", {x23}, {{"to", int64_t{7}}}, {{"to", K::Int}}});
  e.push_back({"Dropout", {x23, {R::Scalar, Tensor::scalar(0.0f)}, {R::Scalar, Tensor::scalar(false)}}, {}, {{"seed", K::Int}}, 2});
  e.push_back({"Shape", {x234}, {}, {{"start", K::Int}, {"end", K::Int}}});
  e.push_back({"Reshape", {x234, {R::Ints, ints({4, -1})}}, {}, {{"allowzero", K::Int}}});
  e.push_back({"Flatten", {x234}, {{"axis", int64_t{1}}}, {{"axis", K::Int}}});
  e.push_back({"Squeeze", {{R::Data, f32({2, 1, 3})}, {R::Ints, ints({1})}}, {}, {}});
  e.push_back({"Unsqueeze", {x23, {R::Ints, ints({0, 3})}}, {}, {}});
  e.push_back({"Transpose", {x234}, {{"perm", std::vector<int64_t>{2, 0, 1}}}, {{"perm", K::Ints}}});
  e.push_back({"Concat", {x23, {R::Data, f32({2, 1})}}, {{"axis", int64_t{1}}}, {{"axis", K::Int}}});
  e.push_back({"Slice", {{R::Data, f32({4, 5})}, {R::Ints, ints({1, 0})}, {R::Ints, ints({3, 5})}, {R::Ints, ints({0, 1})},
                         {R::Ints, ints({1, 2})}}, {}, {}});
  e.push_back({"Gather", {{R::Data, f32({4, 3})}, {R::Ints, ints({0, 3, -1})}}, {{"axis", int64_t{0}}}, {{"axis", K::Int}}});
  e.push_back({"Expand", {{R::Data, f32({3, 1})}, {R::Ints, ints({2, 3, 4})}}, {}, {}});
  e.push_back({"Tile", {x23, {R::Ints, ints({2, 1})}}, {}, {}});
  e.push_back({"Split", {{R::Data, f32({4, 6})}, {R::Ints, ints({2, 4})}}, {{"axis", int64_t{1}}}, {{"axis", K::Int}}, 2});
  e.push_back({"Split", {{R::Data, f32({4, 6})}}, {{"axis", int64_t{1}}}, {{"axis", K::Int}}, 3, true, "equal"});
  e.push_back({"Range", {{R::Scalar, Tensor::scalar(0.0f)}, {R::Scalar, Tensor::scalar(10.0f)}, {R::Scalar, Tensor::scalar(3.0f)}}, {}, {}});
  e.push_back({"Range", {{R::Scalar, Tensor::scalar<int64_t>(-3)}, {R::Scalar, Tensor::scalar<int64_t>(9)}, {R::Scalar, Tensor::scalar<int64_t>(2)}},
               {}, {}, 1, true, "int64"});
  e.push_back({"ConstantOfShape", {{R::Ints, ints({2, 3})}}, {{"value", Tensor::from_vector<float>({1}, {2.5f})}}, {}});
  e.push_back({"Constant", {}, {{"value", f32({2, 2})}},
               {{"value_float", K::Float}, {"value_int", K::Int}, {"value_ints", K::Ints}, {"value_string", K::String}}});
  e.push_back({"ScatterND", {{R::Data, f32({4, 3})}, {R::Data, i64({2, 1}, {0, 3})}, {R::Data, f32({2, 3})}}, {},
               {{"reduction", K::String}}});
  e.push_back({"Pad", {x23, {R::Ints, ints({1, 0, 0, 2})}, {R::Scalar, Tensor::scalar(1.5f)}}, {}, {{"mode", K::String}}});
  e.push_back({"ReduceSum", {x234, {R::Ints, ints({1})}}, {}, {{"keepdims", K::Int}, {"noop_with_empty_axes", K::Int}}});
  for (const char* op : {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"})
    e.push_back({op, {x234}, {{"axes", std::vector<int64_t>{1}}}, {{"axes", K::Ints}, {"keepdims", K::Int}}});
  for (const char* op : {"ArgMax", "ArgMin"})
    e.push_back({op, {x234}, {{"axis", int64_t{1}}}, {{"axis", K::Int}, {"keepdims", K::Int}, {"select_last_index", K::Int}}});
  e.push_back({"MatMul", {x234, {R::Data, f32({4, 5})}}, {}, {}});
  e.push_back({"Linear", {{R::Data, f32({2, 4})}, {R::Data, f32({4, 3})}, {R::Data, f32({3})}}, {}, {}, 1, false});
  e.push_back({"Gemm", {x23, {R::Data, f32({3, 4})}, {R::Data, f32({4})}}, {},
               {{"transA", K::Int}, {"transB", K::Int}, {"alpha", K::Float}, {"beta", K::Float}}});
  const std::map<std::string, AttrKind> window = {{"strides", K::Ints}, {"pads", K::Ints}, {"dilations", K::Ints},
                                                  {"kernel_shape", K::Ints}, {"auto_pad", K::String}};
  auto conv_attrs = window;
  conv_attrs["group"] = K::Int;
  e.push_back({"Conv", {{R::Data, f32({1, 2, 5, 5})}, {R::Data, f32({4, 2, 3, 3})}, {R::Data, f32({4})}},
               {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"strides", std::vector<int64_t>{2, 1}}}, conv_attrs});
  e.push_back({"Conv", {{R::Data, f32({1, 2, 7})}, {R::Data, f32({4, 1, 3})}, {R::Data, f32({4})}},
               {{"pads", std::vector<int64_t>{1, 2}}, {"dilations", std::vector<int64_t>{2}}, {"group", int64_t{2}}}, conv_attrs, 1,
               true, "1d"});
  auto pool_attrs = window;
  pool_attrs["ceil_mode"] = K::Int;
  pool_attrs["storage_order"] = K::Int;
  e.push_back({"MaxPool", {{R::Data, f32({1, 2, 5, 5})}}, {{"kernel_shape", std::vector<int64_t>{2, 2}}}, pool_attrs});
  e.push_back({"MaxPool", {{R::Data, f32({1, 2, 7})}}, {{"kernel_shape", std::vector<int64_t>{3}}, {"pads", std::vector<int64_t>{1, 1}}},
               pool_attrs, 1, true, "1d"});
  for (const char* op : {"Softmax", "LogSoftmax"}) e.push_back({op, {x234}, {{"axis", int64_t{1}}}, {{"axis", K::Int}}});
  for (const char* op : {"LayerNormalization", "LayerNorm"}) {
    const bool onnx = std::string(op) == "LayerNormalization";
    e.push_back({op, {x234, {R::Data, f32({4})}, {R::Data, f32({4})}}, {}, {{"axis", K::Int}, {"epsilon", K::Float}}, 1, onnx});
    e.push_back({op, {x234, {R::Data, f32({3, 4})}, {R::Data, f32({3, 4})}}, {{"axis", int64_t{1}}}, {{"axis", K::Int}}, 3, onnx,
                 "stats"});
  }
  e.push_back({"Gelu", {x23}, {}, {{"approximate", K::String}}, 1, false});
  e.push_back({"QuantizeLinear", {x23, {R::Scalar, Tensor::scalar(0.1f)}, {R::Scalar, Tensor::scalar<uint8_t>(3)}}, {}, {{"axis", K::Int}}});
  e.push_back({"QuantizeLinear", {x23, {R::Data, Tensor::from_vector<float>({3}, {0.1f, 0.2f, 0.3f})},
                                  {R::Data, Tensor::from_vector<int8_t>({3}, {1, 0, -1})}},
               {{"axis", int64_t{1}}}, {{"axis", K::Int}}, 1, true, "per-axis"});
  Tensor q = Tensor::from_vector<uint8_t>({2, 3}, {0, 1, 2, 100, 200, 255});
  e.push_back({"DequantizeLinear", {{R::Data, q}, {R::Scalar, Tensor::scalar(0.1f)}, {R::Scalar, Tensor::scalar<uint8_t>(3)}}, {},
               {{"axis", K::Int}}});
  return e;
}

}  // namespace qvit::sweep
