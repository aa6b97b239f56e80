#include "fuzz/onnx_struct_generator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ir/op_registry.h"
#include "onnx/onnx_synth.h"

namespace qvit::fuzz {
namespace {

// Reads choices off the fuzz bytes; past the end every choice is 0, so any prefix is a model.
class Choices {
 public:
  Choices(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // Uniform-ish in [0, n).
  size_t pick(size_t n) { return n <= 1 ? 0 : (n <= 256 ? byte() % n : ((size_t{byte()} << 8) | byte()) % n); }
  bool coin() { return byte() & 1; }
  bool left() const { return pos_ < size_; }

  // An integer that is usually a small valid index, axis or dim, sometimes an extreme.
  int64_t small_int() {
    const uint8_t b = byte();
    switch (b >> 5) {
      case 0: case 1: case 2: return b & 7;                  // 0..7
      case 3: return -static_cast<int64_t>(b & 7) - 1;     // −1..−8
      case 4: return static_cast<int64_t>(b & 31) + 8;     // 8..39
      case 5: return int64_t{1} << (b & 63);                // powers of two up to 2^63 (wraps negative)
      case 6: return (b & 1) ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
      default: return (b & 1) ? INT32_MAX : INT32_MIN;
    }
  }
  float some_float() {
    const uint8_t b = byte();
    switch (b >> 5) {
      case 0: return std::numeric_limits<float>::quiet_NaN();
      case 1: return (b & 1) ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
      case 2: return (b & 1) ? 3.0e38f : 1.0e-40f;
      default: return (static_cast<int>(b) - 160) / 16.0f;
    }
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

constexpr DType kDtypes[] = {DType::Float32, DType::Float64, DType::Int64, DType::Int32, DType::Int8, DType::UInt8, DType::Bool};

// The attribute names the float engine reads (grep attr_* in src/ir/ops), and what kind of value
// each usually holds; the generator sometimes gives the wrong kind on purpose.
enum class AttrKind { Int, Ints, Float, Floats, String, TensorValue };
struct AttrSpec {
  const char* name;
  AttrKind kind;
};
constexpr AttrSpec kAttrs[] = {
    {"axis", AttrKind::Int},          {"axes", AttrKind::Ints},          {"keepdims", AttrKind::Int},
    {"perm", AttrKind::Ints},         {"pads", AttrKind::Ints},          {"strides", AttrKind::Ints},
    {"dilations", AttrKind::Ints},    {"kernel_shape", AttrKind::Ints},  {"group", AttrKind::Int},
    {"to", AttrKind::Int},            {"value", AttrKind::TensorValue},  {"epsilon", AttrKind::Float},
    {"split", AttrKind::Ints},        {"starts", AttrKind::Ints},        {"ends", AttrKind::Ints},
    {"mode", AttrKind::String},       {"ceil_mode", AttrKind::Int},      {"auto_pad", AttrKind::String},
    {"transA", AttrKind::Int},        {"transB", AttrKind::Int},         {"alpha", AttrKind::Float},
    {"beta", AttrKind::Float},        {"approximate", AttrKind::String}, {"allowzero", AttrKind::Int},
    {"noop_with_empty_axes", AttrKind::Int}, {"select_last_index", AttrKind::Int}, {"fmod", AttrKind::Int},
    {"min", AttrKind::Float},         {"max", AttrKind::Float},          {"value_float", AttrKind::Float},
    {"value_floats", AttrKind::Floats}, {"value_int", AttrKind::Int},    {"value_ints", AttrKind::Ints},
    {"storage_order", AttrKind::Int}, {"reduction", AttrKind::String},   {"ratio", AttrKind::Float},
};
constexpr const char* kStrings[] = {"", "tanh", "none", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "constant", "reflect", "edge", "mean"};

Shape some_shape(Choices& c, int max_rank) {
  Shape s(c.pick(static_cast<size_t>(max_rank) + 1));
  for (auto& d : s) d = c.pick(8) == 0 ? 0 : static_cast<int64_t>(1 + c.pick(4));
  return s;
}

// A tensor of `dtype` and `shape` (few elements) with values drawn from the choices.
Tensor some_tensor(Choices& c, DType dtype, const Shape& shape) {
  Tensor t(dtype, shape);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      if constexpr (std::is_same_v<T, bool>) p[i] = c.coin();
      else if constexpr (std::is_floating_point_v<T>) p[i] = static_cast<T>(c.some_float());
      else p[i] = static_cast<T>(c.small_int());
    }
    return 0;
  });
  return t;
}

AttrValue some_attr(Choices& c, AttrKind kind) {
  if (c.pick(8) == 0) kind = static_cast<AttrKind>(c.pick(6));  // the wrong kind, sometimes
  switch (kind) {
    case AttrKind::Int: return c.small_int();
    case AttrKind::Ints: {
      std::vector<int64_t> v(c.pick(7));
      for (auto& x : v) x = c.small_int();
      return v;
    }
    case AttrKind::Float: return c.some_float();
    case AttrKind::Floats: {
      std::vector<float> v(c.pick(5));
      for (auto& x : v) x = c.some_float();
      return v;
    }
    case AttrKind::String: return std::string(kStrings[c.pick(std::size(kStrings))]);
    case AttrKind::TensorValue: {
      const DType dt = kDtypes[c.pick(std::size(kDtypes))];
      return some_tensor(c, dt, some_shape(c, 2));
    }
  }
  return int64_t{0};
}

}  // namespace

std::string generate_onnx_model(const uint8_t* data, size_t size) {
  Choices c(data, size);
  static const std::vector<std::string> ops = supported_ops();
  SynthModel m;
  m.opset = c.coin() ? 17 : 13;
  std::vector<std::string> values;  // what a node may read, in definition order

  // The graph input: a float (usually) tensor with a dynamic or fixed batch.
  SynthInput input;
  input.name = "x";
  input.dtype = c.pick(4) == 0 ? kDtypes[c.pick(std::size(kDtypes))] : DType::Float32;
  for (int64_t d : some_shape(c, 4)) input.dims.push_back(d);
  if (!input.dims.empty() && c.coin()) input.dims[0] = std::nullopt;  // a dynamic batch
  m.inputs.push_back(input);
  values.push_back("x");

  const size_t num_nodes = 1 + c.pick(4);
  for (size_t n = 0; n < num_nodes && (n == 0 || c.left()); ++n) {
    SynthNode node;
    node.op_type = ops[c.pick(ops.size())];
    node.name = "n" + std::to_string(n);
    const size_t num_inputs = c.pick(4);
    for (size_t i = 0; i <= num_inputs; ++i) {
      const size_t how = c.pick(8);
      if (how == 0 && i > 0) {
        node.inputs.push_back("");  // an omitted optional input
      } else if (how < 4) {
        node.inputs.push_back(values[c.pick(values.size())]);
      } else {
        // A fresh initializer: shape-like int64 vectors are the common case for Reshape & co.
        const std::string name = node.name + "_c" + std::to_string(i);
        const bool shape_like = how < 6;
        const DType dt = shape_like ? DType::Int64 : kDtypes[c.pick(std::size(kDtypes))];
        const Shape shape = shape_like ? Shape{static_cast<int64_t>(c.pick(5))} : some_shape(c, 3);
        SynthInitializer init;
        init.name = name;
        init.value = some_tensor(c, dt, shape);
        if (c.pick(16) == 0) init.declared_dims = some_shape(c, 3);  // dims that do not match the data
        m.initializers.push_back(std::move(init));
        node.inputs.push_back(name);
        values.push_back(name);
      }
    }
    const size_t num_attrs = c.pick(4);
    for (size_t a = 0; a < num_attrs; ++a) {
      const AttrSpec& spec = kAttrs[c.pick(std::size(kAttrs))];
      node.attrs[spec.name] = some_attr(c, spec.kind);
    }
    const size_t num_outputs = 1 + (c.pick(4) == 0 ? c.pick(3) : 0);
    for (size_t o = 0; o < num_outputs; ++o) {
      node.outputs.push_back(node.name + "_y" + std::to_string(o));
      values.push_back(node.outputs.back());
    }
    m.nodes.push_back(std::move(node));
  }
  SynthOutput out;
  out.name = m.nodes.back().outputs.front();
  m.outputs.push_back(out);
  return synth_onnx_bytes(m);
}

}  // namespace qvit::fuzz
