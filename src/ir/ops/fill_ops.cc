// ONNX ops that create or fill data from shapes and scalars the model supplies: Expand, Tile,
// Range, ConstantOfShape, Constant, ScatterND, Pad. Those shapes and counts are untrusted: each is
// validated and computed with overflow checks before the output is allocated (whose size the
// Tensor constructor then caps), and copies run row by row, so no op costs more than its output.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ir/op_registry.h"
#include "ir/ops/safe_math.h"

namespace qvit {
namespace {

// Calls fn(row_offset, idx) for each innermost row of `shape` (rank ≥ 1, non-empty), with idx the
// multi-index of the row's first element.
template <class Fn>
void for_each_row(const Shape& shape, Fn&& fn) {
  const size_t r = shape.size();
  const int64_t len = shape[r - 1];
  const int64_t total = shape_numel(shape);
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < total; o += len) {
    fn(o, idx);
    for (size_t a = r - 1; a-- > 0;) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
}

// Fills `n` elements of `es` bytes at `dst` with the element at `value`.
void fill_elements(std::byte* dst, const std::byte* value, int64_t n, size_t es) {
  if (n <= 0) return;
  std::memcpy(dst, value, es);
  // Doubling copies: log(n) memcpy calls instead of n.
  int64_t done = 1;
  while (done < n) {
    const int64_t k = std::min(done, n - done);
    std::memcpy(dst + done * static_cast<int64_t>(es), dst, static_cast<size_t>(k) * es);
    done += k;
  }
}

// x broadcast to shape s (Expand).
Tensor broadcast_to(const OpCall& c, const Tensor& x, const Shape& s) {
  const int r = static_cast<int>(s.size());
  const int off = r - x.rank();
  for (int a = 0; a < x.rank(); ++a)
    if (x.shape()[a] != 1 && x.shape()[a] != s[off + a]) c.fail("cannot broadcast " + shape_str(x.shape()) + " to " + shape_str(s));
  Tensor y(x.dtype(), s, Tensor::Uninitialized{});
  if (y.numel() == 0) return y;
  const size_t es = dtype_size(x.dtype());
  if (r == 0) {
    std::memcpy(y.raw(), x.raw(), es);
    return y;
  }
  // y non-empty, so x is too and its strides fit.
  auto st = strides_of(x.shape());
  std::vector<int64_t> bst(r, 0);
  for (int a = 0; a < x.rank(); ++a) bst[off + a] = x.shape()[a] == 1 ? 0 : st[a];
  const int64_t len = s[r - 1];
  for_each_row(s, [&](int64_t o, const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (int a = 0; a + 1 < r; ++a) src += idx[a] * bst[a];
    std::byte* dst = y.raw() + o * static_cast<int64_t>(es);
    if (bst[r - 1] == 0) fill_elements(dst, x.raw() + src * static_cast<int64_t>(es), len, es);
    else std::memcpy(dst, x.raw() + src * static_cast<int64_t>(es), static_cast<size_t>(len) * es);
  });
  return y;
}

void op_Expand(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> spec = int_list_input(c, 1, "shape");
  for (int64_t d : spec)
    if (d < 0) c.fail("negative dimension " + std::to_string(d) + " in shape " + shape_str(spec));
  Shape s = broadcast_shapes(c, x.shape(), Shape(spec.begin(), spec.end()));
  out[0] = broadcast_to(c, x, s);
}

void op_Tile(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> reps = int_list_input(c, 1, "repeats");
  const int r = x.rank();
  if (static_cast<int>(reps.size()) != r)
    c.fail("repeats has " + std::to_string(reps.size()) + " entries for an input of rank " + std::to_string(r));
  Shape s = x.shape();
  for (int a = 0; a < r; ++a) {
    if (reps[a] < 0) c.fail("negative repeat " + std::to_string(reps[a]));
    s[a] = shape_mul(c, s[a], reps[a]);
  }
  out[0] = Tensor(x.dtype(), s, Tensor::Uninitialized{});
  if (out[0].numel() == 0) return;
  const size_t es = dtype_size(x.dtype());
  if (r == 0) {
    std::memcpy(out[0].raw(), x.raw(), es);
    return;
  }
  auto st = strides_of(x.shape());
  const int64_t in_len = x.shape()[r - 1];
  // Each output row is the input row at (idx mod input shape), repeated along the last axis.
  for_each_row(s, [&](int64_t o, const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (int a = 0; a + 1 < r; ++a) src += (idx[a] % x.shape()[a]) * st[a];
    std::byte* dst = out[0].raw() + o * static_cast<int64_t>(es);
    for (int64_t k = 0; k < reps[r - 1]; ++k)
      std::memcpy(dst + k * in_len * static_cast<int64_t>(es), x.raw() + src * static_cast<int64_t>(es),
                  static_cast<size_t>(in_len) * es);
  });
}

// ceil((limit - start) / delta) clamped at 0, exactly for any integers (no overflow in 128 bits).
int64_t int_range_count(const OpCall& c, __int128 start, __int128 limit, __int128 delta) {
  const __int128 diff = limit - start;
  if (diff == 0 || (diff > 0) != (delta > 0)) return 0;
  const __int128 m = diff < 0 ? -diff : diff, d = delta < 0 ? -delta : delta;
  const __int128 n = (m + d - 1) / d;
  if (n > (__int128{1} << 62)) c.fail("the range has more elements than a tensor can hold");
  return static_cast<int64_t>(n);
}

void op_Range(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& start = c.input(0);
  for (size_t i = 0; i < 3; ++i) {
    const Tensor& t = c.input(i);
    if (t.dtype() != start.dtype())
      c.fail(std::string("start, limit and delta must have one type, got ") + dtype_name(start.dtype()) + " and " +
             dtype_name(t.dtype()));
    if (t.numel() != 1) c.fail("start, limit and delta must be scalars, got shape " + shape_str(t.shape()));
  }
  visit_dtype(start.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      c.fail("does not take bool inputs");
    } else {
      const T s = c.input(0).data<T>()[0], l = c.input(1).data<T>()[0], d = c.input(2).data<T>()[0];
      if (d == 0) c.fail("delta is 0");
      int64_t count = 0;
      if constexpr (std::is_floating_point_v<T>) {
        const double n = std::ceil((static_cast<double>(l) - static_cast<double>(s)) / static_cast<double>(d));
        // NaN or infinite bounds, or a count no tensor holds, before the conversion (UB otherwise).
        if (std::isnan(n) || n > 0x1p62) c.fail("start, limit and delta give no finite element count");
        count = n > 0 ? static_cast<int64_t>(n) : 0;
      } else {
        count = int_range_count(c, s, l, d);
      }
      out[0] = Tensor(start.dtype(), {count}, Tensor::Uninitialized{});
      T* p = out[0].data<T>();
      if constexpr (std::is_floating_point_v<T>) {
        for (int64_t i = 0; i < count; ++i) p[i] = static_cast<T>(s + static_cast<T>(i) * d);
      } else {
        // Every element lies between start and limit, so it fits T; the product alone may not.
        for (int64_t i = 0; i < count; ++i) p[i] = static_cast<T>(static_cast<__int128>(s) + static_cast<__int128>(i) * d);
      }
    }
  });
}

void op_ConstantOfShape(const OpCall& c, std::vector<Tensor>& out) {
  std::vector<int64_t> spec = int_list_input(c, 0, "shape");
  for (int64_t d : spec)
    if (d < 0) c.fail("negative dimension " + std::to_string(d) + " in shape " + shape_str(spec));
  Shape s(spec.begin(), spec.end());
  if (!c.node.has_attr("value")) {
    out[0] = Tensor(DType::Float32, s);
    return;
  }
  const Tensor& v = c.node.attr_tensor("value");
  if (v.numel() != 1) c.fail("attribute 'value' must hold one element, got shape " + shape_str(v.shape()));
  out[0] = Tensor(v.dtype(), s, Tensor::Uninitialized{});
  fill_elements(out[0].raw(), v.raw(), out[0].numel(), dtype_size(v.dtype()));
}

void op_Constant(const OpCall& c, std::vector<Tensor>& out) {
  if (c.node.has_attr("value")) { out[0] = c.node.attr_tensor("value"); return; }
  if (c.node.has_attr("value_float")) { out[0] = Tensor::scalar<float>(c.node.attr_float("value_float", 0)); return; }
  if (c.node.has_attr("value_int")) { out[0] = Tensor::scalar<int64_t>(c.node.attr_int("value_int")); return; }
  if (c.node.has_attr("value_ints")) {
    auto v = c.node.attr_ints("value_ints");
    out[0] = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
    return;
  }
  if (c.node.has_attr("value_floats")) {
    const auto* v = std::get_if<std::vector<float>>(&c.node.attrs.at("value_floats"));
    if (!v) c.fail("attribute 'value_floats' has the wrong type");
    out[0] = Tensor::from_vector<float>({static_cast<int64_t>(v->size())}, *v);
    return;
  }
  c.fail("no supported value attribute");
}

void op_ScatterND(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const Tensor& ind = c.input(1);
  const Tensor& upd = c.input(2);
  const std::string reduction = c.node.attr_string("reduction", "none");
  if (reduction != "none" && reduction != "add" && reduction != "mul") c.fail("reduction '" + reduction + "' is not supported");
  if (ind.dtype() != DType::Int64 && ind.dtype() != DType::Int32)
    c.fail(std::string("indices must be int64, got ") + dtype_name(ind.dtype()));
  // Updates are copied as raw bytes of the data's type: another type would read past their end.
  if (upd.dtype() != x.dtype())
    c.fail(std::string("updates are ") + dtype_name(upd.dtype()) + ", data is " + dtype_name(x.dtype()));
  if (ind.rank() < 1) c.fail("indices must have rank >= 1");
  const int64_t k = ind.shape().back();
  if (k > x.rank()) c.fail("index depth " + std::to_string(k) + " exceeds data rank " + std::to_string(x.rank()));
  // updates must be indices.shape[:-1] + data.shape[k:].
  Shape want(ind.shape().begin(), ind.shape().end() - 1);
  want.insert(want.end(), x.shape().begin() + k, x.shape().end());
  if (upd.shape() != want) c.fail("updates have shape " + shape_str(upd.shape()) + ", expected " + shape_str(want));
  out[0] = x;
  const int64_t n = span_numel(c, ind.shape(), 0, ind.shape().size() - 1);
  const int64_t slice = span_numel(c, x.shape(), static_cast<size_t>(k), x.shape().size());
  if (n == 0 || slice == 0) return;  // nothing to write (and the data may be empty)
  const auto st = checked_strides(c, x.shape());
  const std::vector<int64_t> idx = ind.as_int64s();
  const size_t es = dtype_size(x.dtype());
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int64_t j = 0; j < k; ++j) {
      int64_t v = idx[i * k + j];
      const int64_t dim = x.shape()[j];
      if (v < -dim || v >= dim) c.fail("index " + std::to_string(v) + " out of range for axis of size " + std::to_string(dim));
      if (v < 0) v += dim;
      off += v * st[j];
    }
    if (reduction == "none") {
      std::memcpy(out[0].raw() + off * es, upd.raw() + i * slice * static_cast<int64_t>(es), static_cast<size_t>(slice) * es);
      continue;
    }
    visit_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, bool>) {
        c.fail("reduction on bool data");
      } else {
        T* dst = out[0].data<T>() + off;
        const T* src = upd.data<T>() + i * slice;
        for (int64_t e = 0; e < slice; ++e) dst[e] = reduction == "add" ? ops::wrap_add(dst[e], src[e]) : ops::wrap_mul(dst[e], src[e]);
      }
    });
  }
}

void op_Pad(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const int r = x.rank();
  if (c.node.attr_string("mode", "constant") != "constant") c.fail("only constant padding is supported");
  std::vector<int64_t> pads = c.opset < 11 ? c.node.attr_ints("pads") : int_list_input(c, 1, "pads");
  if (static_cast<int>(pads.size()) != 2 * r)
    c.fail("pads has " + std::to_string(pads.size()) + " entries, expected 2 × rank = " + std::to_string(2 * r));
  Shape s = x.shape();
  for (int a = 0; a < r; ++a) {
    if (pads[a] < 0 || pads[a + r] < 0) c.fail("negative pads are not supported");
    s[a] = shape_add(c, s[a], shape_add(c, pads[a], pads[a + r]));
  }
  const size_t es = dtype_size(x.dtype());
  // The fill value: input #2 (opset 11+, same type as the data) or the float attribute `value`.
  Tensor fill(x.dtype(), {});
  if (c.opset >= 11) {
    if (const Tensor* v = c.optional_input(2)) {
      if (v->dtype() != x.dtype() || v->numel() != 1)
        c.fail(std::string("constant_value must be a one-element ") + dtype_name(x.dtype()) + " tensor, got " +
               dtype_name(v->dtype()) + " " + shape_str(v->shape()));
      std::memcpy(fill.raw(), v->raw(), es);
    }
  } else {
    const float v = c.node.attr_float("value", 0.f);
    visit_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      fill.data<T>()[0] = ops::convert<T>(v);
      return 0;
    });
  }
  out[0] = Tensor(x.dtype(), s, Tensor::Uninitialized{});
  fill_elements(out[0].raw(), fill.raw(), out[0].numel(), es);
  if (x.numel() == 0) return;
  if (r == 0) {
    std::memcpy(out[0].raw(), x.raw(), es);
    return;
  }
  const auto ost = strides_of(s);  // s holds data here, so its strides fit
  const int64_t len = x.shape()[r - 1];
  for_each_row(x.shape(), [&](int64_t i, const std::vector<int64_t>& idx) {
    int64_t off = 0;
    for (int a = 0; a < r; ++a) off += (idx[a] + pads[a]) * ost[a];
    std::memcpy(out[0].raw() + off * static_cast<int64_t>(es), x.raw() + i * static_cast<int64_t>(es), static_cast<size_t>(len) * es);
  });
}

}  // namespace

void register_fill_ops(OpTable& t) {
  t.insert(t.end(), {
      {"Expand", op_Expand}, {"Tile", op_Tile}, {"Range", op_Range}, {"ConstantOfShape", op_ConstantOfShape},
      {"Constant", op_Constant}, {"ScatterND", op_ScatterND}, {"Pad", op_Pad},
  });
}

}  // namespace qvit
