#pragma once
// Tensor: a dense, row-major, owned n-d array of one element type. The float IR, the importer's
// constant folding and the data loaders all exchange Tensors. Value semantics: copying copies the
// data, moving is cheap.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <span>
#include <string>
#include <vector>

#include "util/error.h"

namespace qvit {

// Allocator whose value-initialization does nothing, so a buffer can be sized without zeroing it.
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

enum class DType : uint8_t { Float32, Float64, Int64, Int32, Int8, UInt8, Bool };

using Shape = std::vector<int64_t>;

const char* dtype_name(DType t);
size_t dtype_size(DType t);
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::Int32; }
template <> constexpr DType dtype_of<int8_t>() { return DType::Int8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::UInt8; }
// Bool tensors store one byte per element (0 or 1) and are accessed as `bool`.
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor of the given type and shape.
  Tensor(DType dtype, Shape shape);
  // Tensor whose contents are unspecified: for kernel outputs that write every element (saves a
  // pass over memory per op).
  struct Uninitialized {};
  Tensor(DType dtype, Shape shape, Uninitialized);

  template <class T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    Tensor t(dtype_of<T>(), std::move(shape));
    QVIT_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "from_vector: size/shape mismatch");
    auto dst = t.values<T>();
    for (size_t i = 0; i < values.size(); ++i) dst[i] = values[i];
    return t;
  }
  template <class T>
  static Tensor scalar(T v) { return from_vector<T>({}, std::vector<T>{v}); }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int axis) const;  // negative axis counts from the end
  int64_t numel() const { return numel_; }
  bool empty() const { return numel_ == 0; }
  bool defined() const { return defined_; }
  size_t nbytes() const { return buf_.size(); }

  template <class T> T* data() { check_type(dtype_of<T>()); return reinterpret_cast<T*>(buf_.data()); }
  template <class T> const T* data() const { check_type(dtype_of<T>()); return reinterpret_cast<const T*>(buf_.data()); }
  template <class T> std::span<T> values() { return {data<T>(), static_cast<size_t>(numel_)}; }
  template <class T> std::span<const T> values() const { return {data<T>(), static_cast<size_t>(numel_)}; }
  std::byte* raw() { return buf_.data(); }
  const std::byte* raw() const { return buf_.data(); }

  // Same data, new shape (element count must match).
  Tensor reshaped(Shape shape) const&;
  Tensor reshaped(Shape shape) &&;

  // Values of an integer tensor (Int64/Int32/Int8/UInt8/Bool) as int64, for shape arithmetic.
  std::vector<int64_t> as_int64s() const;
  // Element i converted to double, for any dtype (debug printing and tests).
  double value_as_double(int64_t i) const;
  // Converted copy (ONNX Cast semantics: float→int truncates toward zero).
  Tensor cast(DType to) const;

 private:
  void check_type(DType want) const;
  DType dtype_ = DType::Float32;
  Shape shape_;
  int64_t numel_ = 0;
  bool defined_ = false;
  std::vector<std::byte, DefaultInitAllocator<std::byte>> buf_;
};

// Calls fn(T{}) with T the C++ element type of `t` (bool for Bool).
template <class Fn>
decltype(auto) visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::Float32: return fn(float{});
    case DType::Float64: return fn(double{});
    case DType::Int64: return fn(int64_t{});
    case DType::Int32: return fn(int32_t{});
    case DType::Int8: return fn(int8_t{});
    case DType::UInt8: return fn(uint8_t{});
    case DType::Bool: return fn(bool{});
  }
  throw InternalError("bad dtype");
}

// Row-major strides of a shape, in elements.
std::vector<int64_t> strides_of(const Shape& s);

}  // namespace qvit
