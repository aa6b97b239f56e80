#include "onnx/onnx_proto_util.h"

#include <onnx/checker.h>

#include <cstring>
#include <span>
#include <fstream>
#include <sstream>

#include "util/atomic_file.h"
#include "util/limits.h"

namespace qvit::onnx_util {

int32_t proto_elem_type(DType t) {
  switch (t) {
    case DType::Float32: return onnx::TensorProto::FLOAT;
    case DType::Float64: return onnx::TensorProto::DOUBLE;
    case DType::Int64: return onnx::TensorProto::INT64;
    case DType::Int32: return onnx::TensorProto::INT32;
    case DType::Int8: return onnx::TensorProto::INT8;
    case DType::UInt8: return onnx::TensorProto::UINT8;
    case DType::Bool: return onnx::TensorProto::BOOL;
  }
  throw InternalError("bad dtype");
}

DType dtype_from_proto(int32_t t, const std::string& where) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DType::Float32;
    case onnx::TensorProto::DOUBLE: return DType::Float64;
    case onnx::TensorProto::INT64: return DType::Int64;
    case onnx::TensorProto::INT32: return DType::Int32;
    case onnx::TensorProto::INT8: return DType::Int8;
    case onnx::TensorProto::UINT8: return DType::UInt8;
    case onnx::TensorProto::BOOL: return DType::Bool;
    default:
      throw Error(where + ": unsupported element type " +
                  onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(t)));
  }
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->set_name(name);
  p->set_data_type(proto_elem_type(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  // raw_data is little-endian with one byte per bool, which is the Tensor's own layout on x86/ARM.
  p->set_raw_data(reinterpret_cast<const char*>(t.raw()), t.nbytes());
}

Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& where) {
  const std::string what = where + ": tensor '" + p.name() + "'";
  if (p.data_location() == onnx::TensorProto::EXTERNAL) throw Error(what + " uses external data, which is not supported");
  const DType dt = dtype_from_proto(p.data_type(), what);
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) throw Error(what + " has a negative dimension");
  // The dims are untrusted: count the elements with overflow checks and compare them with the
  // data actually present before allocating (84 bytes must not declare, and get, 8 GB).
  int64_t numel = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(numel, d, &numel)) throw Error(what + " declares shape " + shape_str(shape) + ", more elements than a 64-bit count holds");
  const size_t n = static_cast<size_t>(numel);
  const size_t elem = dtype_size(dt);
  auto bad_size = [&](size_t got) {
    return Error(what + " of shape " + shape_str(shape) + " holds " + std::to_string(got) + " data bytes/elements, expected " +
                 std::to_string(n) + " elements");
  };
  if (p.has_raw_data()) {
    if (n > p.raw_data().size() / elem || p.raw_data().size() != n * elem) throw bad_size(p.raw_data().size());
    check_tensor_bytes(numel, elem, what);
    Tensor t(dt, shape, Tensor::Uninitialized{});
    if (n > 0) std::memcpy(t.raw(), p.raw_data().data(), t.nbytes());
    // A bool byte other than 0/1 would be undefined behaviour when read as `bool`.
    if (dt == DType::Bool)
      for (auto& b : std::span(t.raw(), t.nbytes())) b = b != std::byte{0} ? std::byte{1} : std::byte{0};
    return t;
  }
  const size_t present = [&]() -> size_t {
    switch (dt) {
      case DType::Float32: return static_cast<size_t>(p.float_data_size());
      case DType::Float64: return static_cast<size_t>(p.double_data_size());
      case DType::Int64: return static_cast<size_t>(p.int64_data_size());
      default: return static_cast<size_t>(p.int32_data_size());
    }
  }();
  if (present != n) throw bad_size(present);
  check_tensor_bytes(numel, elem, what);
  Tensor t(dt, shape, Tensor::Uninitialized{});
  auto copy_from = [&](const auto& field, auto tag) {
    using T = decltype(tag);
    T* dst = reinterpret_cast<T*>(t.raw());
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(field.Get(static_cast<int>(i)));
  };
  switch (dt) {
    case DType::Float32: copy_from(p.float_data(), float{}); break;
    case DType::Float64: copy_from(p.double_data(), double{}); break;
    case DType::Int64: copy_from(p.int64_data(), int64_t{}); break;
    case DType::Int32: copy_from(p.int32_data(), int32_t{}); break;
    case DType::Int8: copy_from(p.int32_data(), int8_t{}); break;
    case DType::UInt8: copy_from(p.int32_data(), uint8_t{}); break;
    case DType::Bool:
      for (size_t i = 0; i < n; ++i) t.raw()[i] = p.int32_data(static_cast<int>(i)) != 0 ? std::byte{1} : std::byte{0};
      break;
  }
  return t;
}

void attr_to_proto(const std::string& key, const AttrValue& v, onnx::AttributeProto* a, const std::string& where) {
  a->set_name(key);
  if (const auto* i = std::get_if<int64_t>(&v)) {
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(*i);
  } else if (const auto* f = std::get_if<float>(&v)) {
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(*f);
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(*s);
  } else if (const auto* is = std::get_if<std::vector<int64_t>>(&v)) {
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : *is) a->add_ints(x);
  } else if (const auto* fs = std::get_if<std::vector<float>>(&v)) {
    a->set_type(onnx::AttributeProto::FLOATS);
    for (float x : *fs) a->add_floats(x);
  } else if (const auto* t = std::get_if<Tensor>(&v)) {
    a->set_type(onnx::AttributeProto::TENSOR);
    tensor_to_proto(*t, "", a->mutable_t());
  } else {
    throw InternalError(where + ": attribute '" + key + "' of unknown kind");
  }
}

AttrValue attr_from_proto(const onnx::AttributeProto& a, const std::string& where) {
  switch (a.type()) {
    case onnx::AttributeProto::INT: return a.i();
    case onnx::AttributeProto::FLOAT: return a.f();
    case onnx::AttributeProto::STRING: return a.s();
    case onnx::AttributeProto::INTS: return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case onnx::AttributeProto::FLOATS: return std::vector<float>(a.floats().begin(), a.floats().end());
    case onnx::AttributeProto::TENSOR: return tensor_from_proto(a.t(), where);
    default:
      throw Error(where + ": attribute '" + a.name() + "' has unsupported type " +
                  onnx::AttributeProto::AttributeType_Name(a.type()));
  }
}

void set_value_info(onnx::ValueInfoProto* vi, const std::string& name, DType dtype, const Shape& shape) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(proto_elem_type(dtype));
  auto* sp = tt->mutable_shape();
  for (int64_t d : shape) sp->add_dim()->set_dim_value(d);
}

std::string UniqueNames::fresh(const std::string& base) {
  std::string name = base;
  int& suffix = next_suffix_[base];
  while (taken_.count(name)) name = base + "#" + std::to_string(++suffix);
  taken_.insert(name);
  return name;
}

std::vector<std::string> unique_value_names(const Graph& g, UniqueNames& names) {
  std::vector<std::string> out;
  out.reserve(g.values.size());
  for (size_t id = 0; id < g.values.size(); ++id) {
    // Unnamed values are "v<id>" (built by append: GCC 12 misreports "v" + to_string as -Wrestrict).
    std::string name = g.values[id].name;
    if (name.empty()) name.append("v").append(std::to_string(id));
    out.push_back(names.fresh(name));
  }
  return out;
}

void require_exportable_opset(const Graph& g, const std::string& what) {
  if (g.opset < 13)
    throw Error(g.source + ": " + what + " needs a model of opset ≥ 13 (this one is opset " + std::to_string(g.opset) +
                "); re-export it from PyTorch with opset_version=13 or later");
}

void check_model_or_throw(const onnx::ModelProto& m, const std::string& source) {
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (auto& ch : msg)
      if (ch == '\n') ch = ' ';  // the checker's messages span lines; keep one
    while (!msg.empty() && msg.back() == ' ') msg.pop_back();
    throw Error(source + ": ONNX checker: " + msg);
  }
}

void write_model(const onnx::ModelProto& m, const std::string& path) {
  check_model_or_throw(m, path);
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw Error(path + ": cannot serialize the ONNX model (larger than 2 GB?)");
  write_file_atomic(path, bytes);
}

onnx::ModelProto read_model(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.empty()) throw Error(path + ": file is empty");
  onnx::ModelProto m;
  if (!m.ParseFromString(bytes)) throw Error(path + ": not a valid ONNX model (protobuf parse failed: truncated or corrupt file?)");
  return m;
}

const std::string* find_metadata(const onnx::ModelProto& m, const std::string& key) {
  for (const auto& kv : m.metadata_props())
    if (kv.key() == key) return &kv.value();
  return nullptr;
}

void add_metadata(onnx::ModelProto& m, const std::string& key, const std::string& value) {
  auto* kv = m.add_metadata_props();
  kv->set_key(key);
  kv->set_value(value);
}

}  // namespace qvit::onnx_util
