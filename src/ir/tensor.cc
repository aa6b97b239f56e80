#include "ir/tensor.h"

#include <cstring>
#include <sstream>

#include "util/limits.h"

namespace qvit {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Int32: return "int32";
    case DType::Int8: return "int8";
    case DType::UInt8: return "uint8";
    case DType::Bool: return "bool";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: case DType::Int32: return 4;
    case DType::Float64: case DType::Int64: return 8;
    case DType::Int8: case DType::UInt8: case DType::Bool: return 1;
  }
  return 0;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw Error("negative dimension in shape " + shape_str(s));
    if (__builtin_mul_overflow(n, d, &n)) throw Error("shape " + shape_str(s) + " has more elements than a 64-bit count holds");
  }
  return n;
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

Tensor::Tensor(DType dtype, Shape shape)
    : dtype_(dtype), shape_(std::move(shape)), numel_(shape_numel(shape_)), defined_(true) {
  // Sizes come from files (initializers, ConstantOfShape, Expand, .npy): cap them before allocating.
  check_tensor_bytes(numel_, dtype_size(dtype_), std::string("tensor of shape ") + shape_str(shape_) + " (" + dtype_name(dtype_) + ")");
  buf_.assign(static_cast<size_t>(numel_) * dtype_size(dtype_), std::byte{0});
}

Tensor::Tensor(DType dtype, Shape shape, Uninitialized)
    : dtype_(dtype), shape_(std::move(shape)), numel_(shape_numel(shape_)), defined_(true) {
  check_tensor_bytes(numel_, dtype_size(dtype_), std::string("tensor of shape ") + shape_str(shape_) + " (" + dtype_name(dtype_) + ")");
  buf_.resize(static_cast<size_t>(numel_) * dtype_size(dtype_));
}

int64_t Tensor::dim(int axis) const {
  int r = rank();
  if (axis < 0) axis += r;
  QVIT_CHECK(axis >= 0 && axis < r, "axis out of range");
  return shape_[axis];
}

void Tensor::check_type(DType want) const {
  if (want != dtype_)
    throw InternalError(std::string("tensor is ") + dtype_name(dtype_) + ", accessed as " + dtype_name(want));
}

Tensor Tensor::reshaped(Shape shape) const& {
  Tensor t = *this;
  return std::move(t).reshaped(std::move(shape));
}

Tensor Tensor::reshaped(Shape shape) && {
  if (shape_numel(shape) != numel_)
    throw Error("cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  shape_ = std::move(shape);
  return std::move(*this);
}


double Tensor::value_as_double(int64_t i) const {
  QVIT_CHECK(i >= 0 && i < numel_, "index out of range");
  return visit_dtype(dtype_, [&](auto tag) -> double {
    using T = decltype(tag);
    return static_cast<double>(data<T>()[i]);
  });
}

std::vector<int64_t> Tensor::as_int64s() const {
  if (dtype_ == DType::Float32 || dtype_ == DType::Float64)
    throw Error(std::string("expected an integer tensor, got ") + dtype_name(dtype_));
  std::vector<int64_t> out(static_cast<size_t>(numel_));
  visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* p = data<T>();
    for (int64_t i = 0; i < numel_; ++i) out[i] = static_cast<int64_t>(p[i]);
    return 0;
  });
  return out;
}

Tensor Tensor::cast(DType to) const {
  Tensor out(to, shape_);
  visit_dtype(dtype_, [&](auto src_tag) {
    using S = decltype(src_tag);
    const S* src = data<S>();
    return visit_dtype(to, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      D* dst = out.data<D>();
      for (int64_t i = 0; i < numel_; ++i) {
        if constexpr (std::is_same_v<D, bool>) dst[i] = src[i] != S{};
        else dst[i] = static_cast<D>(src[i]);
      }
      return 0;
    });
  });
  return out;
}

}  // namespace qvit
