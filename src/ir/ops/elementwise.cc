// Elementwise ONNX ops: unary math, broadcasting binary arithmetic, comparisons, logic, Where,
// Clip, Cast and the variadic Max/Min/Sum/Mean.
#include <cmath>

#include "ir/broadcast.h"
#include "ir/op_registry.h"
#include "ir/ops/fast_math.h"
#include "ir/ops/safe_math.h"
#include "util/thread_pool.h"

namespace qvit {
namespace {

bool is_float(DType t) { return t == DType::Float32 || t == DType::Float64; }

template <class T, class F>
void unary_loop(const Tensor& x, Tensor& y, F f) {
  const T* a = x.data<T>();
  T* o = y.data<T>();
  const int64_t n = x.numel();
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = f(a[i]);
  });
}

// Float unary op; F is a generic lambda so it instantiates for float and double.
template <class F>
void float_unary(const OpCall& c, std::vector<Tensor>& out, F f) {
  const Tensor& x = c.input(0);
  if (!is_float(x.dtype())) c.fail(std::string("expects a float input, got ") + dtype_name(x.dtype()));
  out[0] = Tensor(x.dtype(), x.shape());
  if (x.dtype() == DType::Float32) unary_loop<float>(x, out[0], f);
  else unary_loop<double>(x, out[0], f);
}

// Signed numeric unary op (floats and signed ints).
template <class F>
void numeric_unary(const OpCall& c, std::vector<Tensor>& out, F f) {
  const Tensor& x = c.input(0);
  out[0] = Tensor(x.dtype(), x.shape());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) c.fail("does not take bool input");
    else unary_loop<T>(x, out[0], [&](T v) { return static_cast<T>(f(v)); });
  });
}

#define QVIT_FLOAT_UNARY(NAME, EXPR) \
  void op_##NAME(const OpCall& c, std::vector<Tensor>& out) { float_unary(c, out, [](auto x) { return EXPR; }); }
QVIT_FLOAT_UNARY(Exp, std::exp(x))
QVIT_FLOAT_UNARY(Log, std::log(x))
QVIT_FLOAT_UNARY(Sqrt, std::sqrt(x))
QVIT_FLOAT_UNARY(Reciprocal, decltype(x)(1) / x)
QVIT_FLOAT_UNARY(Tanh, std::tanh(x))
QVIT_FLOAT_UNARY(Sigmoid, decltype(x)(1) / (decltype(x)(1) + std::exp(-x)))
QVIT_FLOAT_UNARY(Floor, std::floor(x))
QVIT_FLOAT_UNARY(Ceil, std::ceil(x))
QVIT_FLOAT_UNARY(Round, std::nearbyint(x))
QVIT_FLOAT_UNARY(Sin, std::sin(x))
QVIT_FLOAT_UNARY(Cos, std::cos(x))
QVIT_FLOAT_UNARY(Softplus, std::log1p(std::exp(x)))
#undef QVIT_FLOAT_UNARY

void op_Erf(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  if (x.dtype() == DType::Float32) {
    out[0] = Tensor(x.dtype(), x.shape());
    erf_f32(x.data<float>(), out[0].data<float>(), x.numel());
  } else {
    float_unary(c, out, [](auto v) { return std::erf(v); });
  }
}

// Integer negation wraps (Abs/Neg of INT_MIN is INT_MIN, as in NumPy) instead of overflowing.
void op_Abs(const OpCall& c, std::vector<Tensor>& out) { numeric_unary(c, out, [](auto v) { return v < 0 ? ops::wrap_neg(v) : v; }); }
void op_Neg(const OpCall& c, std::vector<Tensor>& out) { numeric_unary(c, out, [](auto v) { return ops::wrap_neg(v); }); }
void op_Sign(const OpCall& c, std::vector<Tensor>& out) { numeric_unary(c, out, [](auto v) { return (v > 0) - (v < 0); }); }
void op_Relu(const OpCall& c, std::vector<Tensor>& out) {
  numeric_unary(c, out, [](auto v) { return v > 0 ? v : decltype(v)(0); });
}

void op_Not(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  if (x.dtype() != DType::Bool) c.fail("expects a bool input");
  out[0] = Tensor(DType::Bool, x.shape());
  unary_loop<bool>(x, out[0], [](bool v) { return !v; });
}

// Broadcasting binary op: Out = f(A, B), with A, B of type T and Out of type R.
template <class T, class R, class F>
void binary_typed(const Tensor& a, const Tensor& b, Tensor& y, F f) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  R* po = y.data<R>();
  if (a.shape() == b.shape()) {
    const int64_t n = y.numel();
    parallel_for(n, 1 << 15, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) po[i] = f(pa[i], pb[i]);
    });
    return;
  }
  broadcast_rows<2>(y.shape(), {a.shape(), b.shape()},
                    [&](int64_t o, const std::array<int64_t, 2>& off, int64_t len, const std::array<int64_t, 2>& st) {
                      const T* xa = pa + off[0];
                      const T* xb = pb + off[1];
                      R* xo = po + o;
                      if (st[0] == 1 && st[1] == 1) for (int64_t k = 0; k < len; ++k) xo[k] = f(xa[k], xb[k]);
                      else if (st[0] == 1 && st[1] == 0) for (int64_t k = 0; k < len; ++k) xo[k] = f(xa[k], xb[0]);
                      else if (st[0] == 0 && st[1] == 1) for (int64_t k = 0; k < len; ++k) xo[k] = f(xa[0], xb[k]);
                      else for (int64_t k = 0; k < len; ++k) xo[k] = f(xa[k * st[0]], xb[k * st[1]]);
                    });
}

// `x` converted to `to` element by element with ops::convert (defined for every value, unlike
// Tensor::cast's static_cast of an out-of-range float).
Tensor convert_tensor(const Tensor& x, DType to) {
  Tensor out(to, x.shape(), Tensor::Uninitialized{});
  visit_dtype(x.dtype(), [&](auto src_tag) {
    using S = decltype(src_tag);
    const S* src = x.data<S>();
    return visit_dtype(to, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      D* dst = out.data<D>();
      for (int64_t i = 0; i < x.numel(); ++i) dst[i] = ops::convert<D>(src[i]);
      return 0;
    });
  });
  return out;
}

enum class Kind { Arithmetic, Compare, Logic };

template <Kind K, class F>
void binary(const OpCall& c, std::vector<Tensor>& out, F f) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  if (a.dtype() != b.dtype())
    c.fail(std::string("input types differ: ") + dtype_name(a.dtype()) + " vs " + dtype_name(b.dtype()));
  Shape shape = broadcast_shapes(c, a.shape(), b.shape());
  if constexpr (K == Kind::Logic) {
    if (a.dtype() != DType::Bool) c.fail("expects bool inputs");
    out[0] = Tensor(DType::Bool, shape);
    binary_typed<bool, bool>(a, b, out[0], f);
  } else {
    out[0] = Tensor(K == Kind::Compare ? DType::Bool : a.dtype(), shape, Tensor::Uninitialized{});
    visit_dtype(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (K == Kind::Compare) {
        binary_typed<T, bool>(a, b, out[0], [&](T x, T y) { return static_cast<bool>(f(x, y)); });
      } else if constexpr (std::is_same_v<T, bool>) {
        c.fail("does not take bool inputs");
      } else {
        binary_typed<T, T>(a, b, out[0], [&](T x, T y) { return static_cast<T>(f(x, y)); });
      }
    });
  }
}

// Integer arithmetic wraps on overflow (see ops/safe_math.h); floats are IEEE.
void op_Add(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Arithmetic>(c, out, [](auto a, auto b) { return ops::wrap_add(a, b); }); }
void op_Sub(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Arithmetic>(c, out, [](auto a, auto b) { return ops::wrap_sub(a, b); }); }
void op_Mul(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Arithmetic>(c, out, [](auto a, auto b) { return ops::wrap_mul(a, b); }); }
void op_Div(const OpCall& c, std::vector<Tensor>& out) {
  if (!is_float(c.input(0).dtype()) && c.input(1).dtype() == c.input(0).dtype()) {
    // Integer division truncates toward zero (C semantics, as ONNX Runtime); zero divisor is an error.
    const Tensor& b = c.input(1);
    for (int64_t i = 0; i < b.numel(); ++i)
      if (b.value_as_double(i) == 0) c.fail("integer division by zero");
  }
  binary<Kind::Arithmetic>(c, out, [](auto a, auto b) {
    using T = decltype(a);
    if constexpr (std::is_floating_point_v<T>) return a / b;
    else return ops::wrap_div(a, b);  // INT_MIN / -1 traps on x86
  });
}

void op_Pow(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& a = c.input(0);
  Tensor b = c.input(1);
  // ONNX allows a different exponent type; compute in the base's type (a saturating conversion:
  // Tensor::cast of an out-of-range float exponent to an integer type would be undefined).
  if (b.dtype() == DType::Bool || a.dtype() == DType::Bool) c.fail("does not take bool inputs");
  if (b.dtype() != a.dtype()) b = convert_tensor(b, a.dtype());
  OpCall cc{c.node, {&a, &b}, c.opset};
  binary<Kind::Arithmetic>(cc, out, [](auto x, auto y) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>) {
      if (y == T(2)) return x * x;  // the decomposed LayerNorm's Pow(x, 2): exact and fast
      return static_cast<T>(std::pow(x, y));
    } else {
      return ops::convert<T>(std::pow(static_cast<double>(x), static_cast<double>(y)));
    }
  });
}

void op_Mod(const OpCall& c, std::vector<Tensor>& out) {
  const bool fmod = c.node.attr_int("fmod", 0) != 0;
  if (is_float(c.input(0).dtype()) && !fmod) c.fail("float Mod requires fmod=1");
  binary<Kind::Arithmetic>(c, out, [fmod](auto a, auto b) {
    using T = decltype(a);
    if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(std::fmod(a, b));
    } else {
      if (b == 0) return T(0);
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return T(0);  // INT_MIN % -1 traps on x86
      }
      T r = static_cast<T>(a % b);
      // Python-style modulo (sign of the divisor) unless fmod.
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
      return r;
    }
  });
}

void op_Equal(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Compare>(c, out, [](auto a, auto b) { return a == b; }); }
void op_Less(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Compare>(c, out, [](auto a, auto b) { return a < b; }); }
void op_Greater(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Compare>(c, out, [](auto a, auto b) { return a > b; }); }
void op_LessOrEqual(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Compare>(c, out, [](auto a, auto b) { return a <= b; }); }
void op_GreaterOrEqual(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Compare>(c, out, [](auto a, auto b) { return a >= b; }); }
void op_And(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Logic>(c, out, [](bool a, bool b) { return a && b; }); }
void op_Or(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Logic>(c, out, [](bool a, bool b) { return a || b; }); }
void op_Xor(const OpCall& c, std::vector<Tensor>& out) { binary<Kind::Logic>(c, out, [](bool a, bool b) { return a != b; }); }

// Variadic ops fold pairwise through the binary kernel.
template <class F>
void variadic(const OpCall& c, std::vector<Tensor>& out, F f) {
  if (c.in.empty()) c.fail("needs at least one input");
  // (Checked here too: with one input the binary kernel, which rejects bool, never runs.)
  if (c.input(0).dtype() == DType::Bool) c.fail("does not take bool inputs");
  Tensor acc = c.input(0);
  for (size_t i = 1; i < c.in.size(); ++i) {
    std::vector<Tensor> tmp(1);
    OpCall pair{c.node, {&acc, &c.input(i)}, c.opset};
    binary<Kind::Arithmetic>(pair, tmp, f);
    acc = std::move(tmp[0]);
  }
  out[0] = std::move(acc);
}

void op_Max(const OpCall& c, std::vector<Tensor>& out) {
  variadic(c, out, [](auto a, auto b) { return (a != a) ? a : (b != b ? b : (a < b ? b : a)); });
}
void op_Min(const OpCall& c, std::vector<Tensor>& out) {
  variadic(c, out, [](auto a, auto b) { return (a != a) ? a : (b != b ? b : (b < a ? b : a)); });
}
void op_Sum(const OpCall& c, std::vector<Tensor>& out) { variadic(c, out, [](auto a, auto b) { return ops::wrap_add(a, b); }); }
void op_Mean(const OpCall& c, std::vector<Tensor>& out) {
  if (!is_float(c.input(0).dtype())) c.fail("Mean needs float inputs");
  variadic(c, out, [](auto a, auto b) { return ops::wrap_add(a, b); });
  const double n = static_cast<double>(c.in.size());
  visit_dtype(out[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>)
      for (auto& v : out[0].values<T>()) v = static_cast<T>(v / n);
    else c.fail("Mean needs float inputs");
  });
}

void op_Where(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& cond = c.input(0);
  const Tensor& x = c.input(1);
  const Tensor& y = c.input(2);
  if (cond.dtype() != DType::Bool) c.fail("condition must be bool");
  if (x.dtype() != y.dtype()) c.fail("X and Y types differ");
  Shape shape = broadcast_shapes(c, broadcast_shapes(c, cond.shape(), x.shape()), y.shape());
  out[0] = Tensor(x.dtype(), shape);
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const bool* pc = cond.data<bool>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out[0].data<T>();
    broadcast_rows<3>(shape, {cond.shape(), x.shape(), y.shape()},
                      [&](int64_t o, const std::array<int64_t, 3>& off, int64_t len, const std::array<int64_t, 3>& st) {
                        for (int64_t k = 0; k < len; ++k)
                          po[o + k] = pc[off[0] + k * st[0]] ? px[off[1] + k * st[1]] : py[off[2] + k * st[2]];
                      });
  });
}

void op_Clip(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  out[0] = Tensor(x.dtype(), x.shape());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      c.fail("does not take bool input");
    } else {
      T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
      if (c.opset < 11) {
        // Clip-6 takes float tensors only; its float attributes convert without overflow then.
        if (!is_float(x.dtype())) c.fail(std::string("before opset 11 Clip takes float input, got ") + dtype_name(x.dtype()));
        lo = ops::convert<T>(c.node.attr_float("min", -std::numeric_limits<float>::infinity()));
        hi = ops::convert<T>(c.node.attr_float("max", std::numeric_limits<float>::infinity()));
      } else {
        for (size_t k = 1; k <= 2; ++k) {
          const Tensor* t = c.optional_input(k);
          if (!t) continue;
          if (t->dtype() != x.dtype() || t->numel() != 1)
            c.fail(std::string(k == 1 ? "min" : "max") + " must be a one-element " + dtype_name(x.dtype()) + " tensor, got " +
                   dtype_name(t->dtype()) + " " + shape_str(t->shape()));
          (k == 1 ? lo : hi) = t->data<T>()[0];
        }
      }
      unary_loop<T>(x, out[0], [&](T v) { return v < lo ? lo : (v > hi ? hi : v); });
    }
  });
}

}  // namespace

// ONNX TensorProto.DataType codes of the types qvit represents.
DType dtype_from_onnx_code(const OpCall& c, int64_t code) {
  switch (code) {
    case 1: return DType::Float32;
    case 2: return DType::UInt8;
    case 3: return DType::Int8;
    case 6: return DType::Int32;
    case 7: return DType::Int64;
    case 9: return DType::Bool;
    case 11: return DType::Float64;
    default: c.fail("unsupported element type code " + std::to_string(code));
  }
}

namespace {
void op_Cast(const OpCall& c, std::vector<Tensor>& out) {
  out[0] = convert_tensor(c.input(0), dtype_from_onnx_code(c, c.node.attr_int("to")));
}
}  // namespace

void register_elementwise_ops(OpTable& t) {
  t.insert(t.end(), {
      {"Exp", op_Exp}, {"Log", op_Log}, {"Sqrt", op_Sqrt}, {"Reciprocal", op_Reciprocal}, {"Tanh", op_Tanh},
      {"Sigmoid", op_Sigmoid}, {"Floor", op_Floor}, {"Ceil", op_Ceil}, {"Round", op_Round}, {"Sin", op_Sin},
      {"Cos", op_Cos}, {"Softplus", op_Softplus}, {"Erf", op_Erf}, {"Abs", op_Abs}, {"Neg", op_Neg},
      {"Sign", op_Sign}, {"Relu", op_Relu}, {"Not", op_Not}, {"Add", op_Add}, {"Sub", op_Sub}, {"Mul", op_Mul},
      {"Div", op_Div}, {"Pow", op_Pow}, {"Mod", op_Mod}, {"Equal", op_Equal}, {"Less", op_Less},
      {"Greater", op_Greater}, {"LessOrEqual", op_LessOrEqual}, {"GreaterOrEqual", op_GreaterOrEqual},
      {"And", op_And}, {"Or", op_Or}, {"Xor", op_Xor}, {"Max", op_Max}, {"Min", op_Min}, {"Sum", op_Sum},
      {"Mean", op_Mean}, {"Where", op_Where}, {"Clip", op_Clip}, {"Cast", op_Cast},
  });
}

}  // namespace qvit
