#pragma once
// Element arithmetic that stays defined on hostile data. Signed overflow, INT_MIN / -1 and
// float→integer conversion of an out-of-range or NaN value are undefined behaviour in C++ (and
// the division traps on x86), yet a model's initializers can hold any bits. Integer ops here wrap
// in two's complement, as NumPy and ONNX Runtime do; conversions to an integer type saturate and
// map NaN to 0.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace qvit::ops {

template <class T>
constexpr bool is_wrapping_int = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <class T>
T wrap_add(T a, T b) {
  if constexpr (is_wrapping_int<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}

template <class T>
T wrap_sub(T a, T b) {
  if constexpr (is_wrapping_int<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}

template <class T>
T wrap_mul(T a, T b) {
  if constexpr (is_wrapping_int<T>) {
    // uint8·uint8 promotes to int, where 255·255 still fits; the wider types multiply unsigned.
    using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(static_cast<U>(a) * static_cast<U>(b)));
  } else {
    return a * b;
  }
}

template <class T>
T wrap_neg(T a) {
  if constexpr (is_wrapping_int<T>) return wrap_sub(T(0), a);
  else return -a;
}

// Integer division truncating toward zero; b must not be 0. INT_MIN / -1 wraps to INT_MIN.
template <class T>
T wrap_div(T a, T b) {
  if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) {
    if (b == T(-1)) return wrap_neg(a);
  }
  return static_cast<T>(a / b);
}

// Converts as ONNX Cast does where that is defined, and saturates where C++ is not: float→int
// clamps to the target's range (NaN → 0); double→float beyond float's range gives ±inf.
template <class D, class S>
D convert(S v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != S{};
  } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    if (std::isnan(v)) return D(0);
    // lowest() is a power of two (exact in S); max() rounds up to one, so ">=" catches it.
    if (v <= static_cast<S>(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    if (v >= static_cast<S>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    return static_cast<D>(v);
  } else if constexpr (std::is_floating_point_v<S> && std::is_floating_point_v<D> && sizeof(D) < sizeof(S)) {
    if (std::isfinite(v) && std::fabs(v) > static_cast<S>(std::numeric_limits<D>::max()))
      return v > 0 ? std::numeric_limits<D>::infinity() : -std::numeric_limits<D>::infinity();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);  // integer→integer is modular (C++20); integer→float rounds
  }
}

}  // namespace qvit::ops
