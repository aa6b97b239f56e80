#include "fuzz/onnx_struct_generator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ir/op_registry.h"
#include "fuzz/op_cases.h"
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

// Attribute value kinds (the table's, plus tensors) and the strings a string attribute may get.
enum class AttrKind { Int, Ints, Float, Floats, String, TensorValue };
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

// An input as the op table describes it, usually kept valid, sometimes replaced: Ints lists get
// hostile values and lengths, data tensors other shapes and dtypes.
Tensor mutated_input(Choices& c, const sweep::InputSpec& spec) {
  const size_t how = c.pick(4);
  if (how < 2) return spec.base;
  if (spec.role == sweep::Role::Ints) {
    std::vector<int64_t> v(c.pick(6));
    for (auto& x : v) x = c.small_int();
    return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
  const DType dt = how == 2 ? spec.base.dtype() : kDtypes[c.pick(std::size(kDtypes))];
  return some_tensor(c, dt, spec.role == sweep::Role::Scalar ? Shape{} : some_shape(c, 4));
}

AttrValue mutated_attr(Choices& c, sweep::AttrKind kind) {
  switch (kind) {
    case sweep::AttrKind::Int: return some_attr(c, AttrKind::Int);
    case sweep::AttrKind::Ints: return some_attr(c, AttrKind::Ints);
    case sweep::AttrKind::Float: return some_attr(c, AttrKind::Float);
    case sweep::AttrKind::String: return some_attr(c, AttrKind::String);
  }
  return int64_t{0};
}

}  // namespace

std::string generate_onnx_model(const uint8_t* data, size_t size) {
  Choices c(data, size);
  // Ops with an ONNX schema, from the table of valid calls: a node starts as a valid call (so the
  // ONNX checker lets it through) and the choices bend its inputs and attributes from there.
  static const std::vector<sweep::OpEntry> entries = [] {
    std::vector<sweep::OpEntry> all = sweep::sweep_entries(), onnx;
    for (auto& e : all)
      if (e.onnx) onnx.push_back(std::move(e));
    return onnx;
  }();
  SynthModel m;
  m.opset = c.pick(4) == 0 ? 13 : 17;
  std::string previous;  // the last node's first output, which the next node may read
  const size_t num_nodes = 1 + c.pick(3);
  for (size_t n = 0; n < num_nodes && (n == 0 || c.left()); ++n) {
    const sweep::OpEntry& e = entries[c.pick(entries.size())];
    SynthNode node;
    node.op_type = e.op;
    node.name = "n" + std::to_string(n);
    for (size_t i = 0; i < e.inputs.size(); ++i) {
      const size_t how = c.pick(8);
      if (i == 0 && !previous.empty() && how < 4) {
        node.inputs.push_back(previous);
      } else if (i == 0 && m.inputs.empty() && how < 6) {
        // The graph input: the table's shape (a dynamic batch sometimes) or another one.
        SynthInput in;
        in.name = "x";
        const Tensor t = mutated_input(c, e.inputs[0]);
        in.dtype = t.dtype();
        for (int64_t d : t.shape()) in.dims.push_back(d);
        if (!in.dims.empty() && c.coin()) in.dims[0] = std::nullopt;
        m.inputs.push_back(in);
        node.inputs.push_back("x");
      } else if (how == 7 && i > 0) {
        node.inputs.push_back("");  // an omitted optional input
      } else {
        SynthInitializer init;
        init.name = node.name + "_in" + std::to_string(i);
        init.value = mutated_input(c, e.inputs[i]);
        if (c.pick(32) == 0) init.declared_dims = some_shape(c, 3);  // dims that do not match the data
        node.inputs.push_back(init.name);
        m.initializers.push_back(std::move(init));
      }
    }
    node.attrs = e.attrs;
    for (const auto& [name, kind] : e.sweep_attrs) {
      const size_t how = c.pick(4);
      if (how == 1) node.attrs[name] = mutated_attr(c, kind);
      else if (how == 2) node.attrs.erase(name);
    }
    for (size_t o = 0; o < e.outputs; ++o) node.outputs.push_back(node.name + "_y" + std::to_string(o));
    previous = node.outputs.front();
    m.nodes.push_back(std::move(node));
  }
  SynthOutput out;
  out.name = previous;
  m.outputs.push_back(out);
  return synth_onnx_bytes(m);
}

}  // namespace qvit::fuzz
