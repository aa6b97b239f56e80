// Data-movement and shape ONNX ops. These are dtype-agnostic: they move elements as bytes.
// With a static input shape the importer folds most of them into constants; the ones left on the
// data path (Reshape, Transpose, Concat, Slice, Gather, ...) run here.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ir/op_registry.h"
#include "util/thread_pool.h"

namespace qvit {
namespace {

std::vector<int64_t> ints_of(const OpCall& c, size_t i) { return c.input(i).as_int64s(); }

// Axes from an attribute (older opsets) or from input `index` (newer ones); empty if neither.
std::vector<int64_t> axes_attr_or_input(const OpCall& c, size_t index) {
  if (c.node.has_attr("axes")) return c.node.attr_ints("axes");
  if (const Tensor* t = c.optional_input(index)) return t->as_int64s();
  return {};
}

void op_Identity(const OpCall& c, std::vector<Tensor>& out) {
  if (c.node.op == "Dropout") {
    // Training-mode dropout with a nonzero ratio is random; ratio 0 (what torchvision's Swin
    // exports, F.dropout(p=0.0) without a training flag) is the identity either way.
    const Tensor* training = c.optional_input(2);
    const Tensor* ratio = c.optional_input(1);
    const double p = ratio && ratio->numel() == 1 ? ratio->value_as_double(0) : c.node.attr_float("ratio", 0.5f);
    if (training && training->numel() == 1 && training->value_as_double(0) != 0 && p != 0)
      c.fail("training_mode=true with ratio > 0 is not supported: qvit runs inference only");
  }
  out[0] = c.input(0);
  for (size_t i = 1; i < out.size(); ++i) out[i] = Tensor(DType::Bool, c.input(0).shape());  // Dropout mask
  if (out.size() > 1) std::memset(out[1].raw(), 1, out[1].nbytes());
}

void op_Shape(const OpCall& c, std::vector<Tensor>& out) {
  const Shape& s = c.input(0).shape();
  int64_t r = static_cast<int64_t>(s.size());
  int64_t start = c.node.attr_int("start", 0), end = c.node.attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> v(s.begin() + start, s.begin() + std::max(start, end));
  out[0] = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
}

void op_Size(const OpCall& c, std::vector<Tensor>& out) { out[0] = Tensor::scalar<int64_t>(c.input(0).numel()); }

void op_Reshape(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> spec = ints_of(c, 1);
  const bool allowzero = c.node.attr_int("allowzero", 0) != 0;
  Shape shape(spec.size());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == 0 && !allowzero) {
      if (i >= x.shape().size()) c.fail("shape entry 0 refers to a missing input axis");
      d = x.shape()[i];
    }
    if (d == -1) {
      if (infer >= 0) c.fail("more than one -1 in target shape");
      infer = static_cast<int>(i);
      continue;
    }
    if (d < 0) c.fail("invalid target dimension " + std::to_string(d));
    shape[i] = d;
    known *= d;
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0) c.fail("cannot infer -1 reshaping " + shape_str(x.shape()));
    shape[infer] = x.numel() / known;
  }
  if (shape_numel(shape) != x.numel()) c.fail("cannot reshape " + shape_str(x.shape()) + " to " + shape_str(shape));
  out[0] = x.reshaped(shape);
}

void op_Flatten(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  int r = x.rank();
  int64_t axis = c.node.attr_int("axis", 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) c.fail("axis out of range");
  int64_t outer = 1;
  for (int i = 0; i < axis; ++i) outer *= x.shape()[i];
  out[0] = x.reshaped({outer, outer == 0 ? 0 : x.numel() / std::max<int64_t>(outer, 1)});
}

void op_Squeeze(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> axes = axes_attr_or_input(c, 1);
  std::vector<char> drop(x.shape().size(), 0);
  if (axes.empty()) {
    for (size_t i = 0; i < drop.size(); ++i) drop[i] = x.shape()[i] == 1;
  } else {
    for (int64_t a : axes) {
      int n = normalize_axis(c, a, x.rank());
      if (x.shape()[n] != 1) c.fail("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x.shape()[n]));
      drop[n] = 1;
    }
  }
  Shape s;
  for (size_t i = 0; i < drop.size(); ++i)
    if (!drop[i]) s.push_back(x.shape()[i]);
  out[0] = x.reshaped(s);
}

void op_Unsqueeze(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> axes = axes_attr_or_input(c, 1);
  int r = x.rank() + static_cast<int>(axes.size());
  std::vector<char> ins(r, 0);
  for (int64_t a : axes) {
    int n = normalize_axis(c, a, r);
    if (ins[n]) c.fail("repeated axis");
    ins[n] = 1;
  }
  Shape s;
  size_t k = 0;
  for (int i = 0; i < r; ++i) s.push_back(ins[i] ? 1 : x.shape()[k++]);
  out[0] = x.reshaped(s);
}

// Copies elements of `x` into `y` where y[idx] = x[perm-mapped idx]; generic over element size.
template <class E>
void transpose_typed(const Tensor& x, Tensor& y, const std::vector<int64_t>& perm) {
  const int r = x.rank();
  auto in_st = strides_of(x.shape());
  std::vector<int64_t> st(r);  // input stride of each output axis
  for (int i = 0; i < r; ++i) st[i] = in_st[perm[i]];
  const Shape& os = y.shape();
  const E* src = reinterpret_cast<const E*>(x.raw());
  E* dst = reinterpret_cast<E*>(y.raw());
  const int64_t total = y.numel();
  if (total == 0) return;
  if (r == 0) { dst[0] = src[0]; return; }
  const int64_t len = os[r - 1], s_in = st[r - 1];
  // Outer rows are independent: parallelize over them for big tensors.
  const int64_t rows = total / len;
  parallel_for(rows, std::max<int64_t>(1, (1 << 15) / len), [&](int64_t row_begin, int64_t row_end) {
  for (int64_t row = row_begin; row < row_end; ++row) {
    int64_t rem = row, off = 0;
    for (int a = r - 2; a >= 0; --a) {
      off += (rem % os[a]) * st[a];
      rem /= os[a];
    }
    E* d = dst + row * len;
    if (s_in == 1) {
      std::memcpy(d, src + off, static_cast<size_t>(len) * sizeof(E));  // last axis kept: contiguous run
    } else {
      for (int64_t k = 0; k < len; ++k) d[k] = src[off + k * s_in];
    }
  }
  });
}

void op_Transpose(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const int r = x.rank();
  std::vector<int64_t> perm = c.node.attr_ints("perm");
  if (perm.empty())
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int>(perm.size()) != r) c.fail("perm length does not match rank");
  std::vector<char> seen(r, 0);
  Shape s(r);
  for (int i = 0; i < r; ++i) {
    if (perm[i] < 0 || perm[i] >= r || seen[perm[i]]) c.fail("invalid perm");
    seen[perm[i]] = 1;
    s[i] = x.shape()[perm[i]];
  }
  // Moving only size-1 axes keeps the element order: a reshape.
  int64_t last = -1;
  bool keeps_order = true;
  for (int i = 0; i < r; ++i) {
    if (x.shape()[perm[i]] == 1) continue;
    keeps_order = keeps_order && perm[i] > last;
    last = perm[i];
  }
  if (keeps_order) {
    out[0] = x.reshaped(s);
    return;
  }
  out[0] = Tensor(x.dtype(), s, Tensor::Uninitialized{});
  switch (dtype_size(x.dtype())) {
    case 1: transpose_typed<uint8_t>(x, out[0], perm); break;
    case 4: transpose_typed<uint32_t>(x, out[0], perm); break;
    default: transpose_typed<uint64_t>(x, out[0], perm); break;
  }
}

void op_Concat(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& first = c.input(0);
  const int r = first.rank();
  const int axis = normalize_axis(c, c.node.attr_int("axis"), r);
  Shape s = first.shape();
  s[axis] = 0;
  for (size_t i = 0; i < c.in.size(); ++i) {
    const Tensor& t = c.input(i);
    if (t.dtype() != first.dtype() || t.rank() != r) c.fail("inputs differ in type or rank");
    for (int a = 0; a < r; ++a)
      if (a != axis && t.shape()[a] != first.shape()[a])
        c.fail("input shapes " + shape_str(first.shape()) + " and " + shape_str(t.shape()) + " differ off the concat axis");
    s[axis] += t.shape()[axis];
  }
  out[0] = Tensor(first.dtype(), s, Tensor::Uninitialized{});
  int64_t outer = 1, inner = 1;
  for (int a = 0; a < axis; ++a) outer *= s[a];
  for (int a = axis + 1; a < r; ++a) inner *= s[a];
  const size_t es = dtype_size(first.dtype());
  std::byte* dst = out[0].raw();
  const int64_t out_row = s[axis] * inner;
  int64_t col = 0;
  for (size_t i = 0; i < c.in.size(); ++i) {
    const Tensor& t = c.input(i);
    const int64_t chunk = t.shape()[axis] * inner;
    if (chunk == 0) continue;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + (o * out_row + col) * es, t.raw() + o * chunk * es, static_cast<size_t>(chunk) * es);
    col += chunk;
  }
}

void op_Slice(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const int r = x.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset < 10) {
    starts = c.node.attr_ints("starts");
    ends = c.node.attr_ints("ends");
    axes = c.node.attr_ints("axes");
  } else {
    starts = ints_of(c, 1);
    ends = ints_of(c, 2);
    if (const Tensor* t = c.optional_input(3)) axes = t->as_int64s();
    if (const Tensor* t = c.optional_input(4)) steps = t->as_int64s();
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    c.fail("starts/ends/axes/steps lengths differ");
  std::vector<int64_t> st(r, 0), step(r, 1);
  Shape s = x.shape();
  for (size_t i = 0; i < starts.size(); ++i) {
    int a = normalize_axis(c, axes[i], r);
    const int64_t dim = x.shape()[a];
    int64_t k = steps[i];
    if (k == 0) c.fail("step 0");
    int64_t b = starts[i], e = ends[i];
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    if (k > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      s[a] = e > b ? (e - b + k - 1) / k : 0;
    } else {
      b = std::clamp<int64_t>(b, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      s[a] = b > e ? (b - e - k - 1) / (-k) : 0;
    }
    st[a] = b;
    step[a] = k;
  }
  out[0] = Tensor(x.dtype(), s, Tensor::Uninitialized{});
  const int64_t total = out[0].numel();
  if (total == 0) return;
  auto in_st = strides_of(x.shape());
  const size_t es = dtype_size(x.dtype());
  const std::byte* src = x.raw();
  std::byte* dst = out[0].raw();
  // Copy whole innermost runs when the last axis has step 1 (attention's q/k/v split, roll).
  const int64_t run = r > 0 && step[r - 1] == 1 ? s[r - 1] : 1;
  const int outer_axes = run > 1 ? r - 1 : r;
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < total; o += run) {
    int64_t off = 0;
    for (int a = 0; a < outer_axes; ++a) off += (st[a] + idx[a] * step[a]) * in_st[a];
    if (run > 1) off += st[r - 1] * in_st[r - 1];
    std::memcpy(dst + o * static_cast<int64_t>(es), src + off * static_cast<int64_t>(es), static_cast<size_t>(run) * es);
    for (int a = outer_axes - 1; a >= 0; --a) {
      if (++idx[a] < s[a]) break;
      idx[a] = 0;
    }
  }
}

void op_Gather(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const Tensor& ind = c.input(1);
  const int r = x.rank();
  if (r == 0) c.fail("data must have rank >= 1");
  const int axis = normalize_axis(c, c.node.attr_int("axis", 0), r);
  std::vector<int64_t> idx = ind.as_int64s();
  const int64_t dim = x.shape()[axis];
  for (auto& i : idx) {
    if (i < -dim || i >= dim) c.fail("index " + std::to_string(i) + " out of range for axis of size " + std::to_string(dim));
    if (i < 0) i += dim;
  }
  Shape s(x.shape().begin(), x.shape().begin() + axis);
  s.insert(s.end(), ind.shape().begin(), ind.shape().end());
  s.insert(s.end(), x.shape().begin() + axis + 1, x.shape().end());
  out[0] = Tensor(x.dtype(), s);
  int64_t outer = 1, inner = 1;
  for (int a = 0; a < axis; ++a) outer *= x.shape()[a];
  for (int a = axis + 1; a < r; ++a) inner *= x.shape()[a];
  const size_t bytes = static_cast<size_t>(inner) * dtype_size(x.dtype());
  std::byte* dst = out[0].raw();
  for (int64_t o = 0; o < outer; ++o)
    for (size_t j = 0; j < idx.size(); ++j)
      std::memcpy(dst + (o * static_cast<int64_t>(idx.size()) + static_cast<int64_t>(j)) * static_cast<int64_t>(bytes),
                  x.raw() + (o * dim + idx[j]) * static_cast<int64_t>(bytes), bytes);
}

// Generic broadcast of x to shape s (used by Expand and Tile-like ops).
Tensor broadcast_to(const OpCall& c, const Tensor& x, const Shape& s) {
  Tensor y(x.dtype(), s);
  const int r = static_cast<int>(s.size());
  auto st = strides_of(x.shape());
  std::vector<int64_t> bst(r, 0);
  const int off = r - x.rank();
  for (int a = 0; a < x.rank(); ++a) {
    if (x.shape()[a] != 1 && x.shape()[a] != s[off + a]) c.fail("cannot broadcast " + shape_str(x.shape()) + " to " + shape_str(s));
    bst[off + a] = x.shape()[a] == 1 ? 0 : st[a];
  }
  const size_t es = dtype_size(x.dtype());
  std::vector<int64_t> idx(r, 0);
  const int64_t total = y.numel();
  for (int64_t o = 0; o < total; ++o) {
    int64_t src = 0;
    for (int a = 0; a < r; ++a) src += idx[a] * bst[a];
    std::memcpy(y.raw() + o * es, x.raw() + src * es, es);
    for (int a = r - 1; a >= 0; --a) {
      if (++idx[a] < s[a]) break;
      idx[a] = 0;
    }
  }
  return y;
}

void op_Expand(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> spec = ints_of(c, 1);
  Shape s = broadcast_shapes(c, x.shape(), Shape(spec.begin(), spec.end()));
  out[0] = broadcast_to(c, x, s);
}

void op_Tile(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> reps = ints_of(c, 1);
  if (static_cast<int>(reps.size()) != x.rank()) c.fail("repeats length must equal rank");
  Shape s = x.shape();
  for (size_t a = 0; a < s.size(); ++a) s[a] *= reps[a];
  out[0] = Tensor(x.dtype(), s);
  const int r = x.rank();
  auto st = strides_of(x.shape());
  const size_t es = dtype_size(x.dtype());
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < out[0].numel(); ++o) {
    int64_t src = 0;
    for (int a = 0; a < r; ++a) src += (idx[a] % x.shape()[a]) * st[a];
    std::memcpy(out[0].raw() + o * es, x.raw() + src * es, es);
    for (int a = r - 1; a >= 0; --a) {
      if (++idx[a] < s[a]) break;
      idx[a] = 0;
    }
  }
}

void op_Split(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const int axis = normalize_axis(c, c.node.attr_int("axis", 0), x.rank());
  std::vector<int64_t> split = c.node.attr_ints("split");
  if (split.empty())
    if (const Tensor* t = c.optional_input(1)) split = t->as_int64s();
  const int64_t dim = x.shape()[axis];
  const int64_t n = static_cast<int64_t>(out.size());
  if (split.empty()) {
    const int64_t part = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i) split.push_back(std::min(part, dim - i * part));
  }
  if (static_cast<int64_t>(split.size()) != n) c.fail("split count does not match outputs");
  int64_t start = 0;
  for (int64_t i = 0; i < n; ++i) {
    Tensor st = Tensor::from_vector<int64_t>({1}, {start});
    Tensor en = Tensor::from_vector<int64_t>({1}, {start + split[i]});
    Tensor ax = Tensor::from_vector<int64_t>({1}, {axis});
    std::vector<Tensor> one(1);
    op_Slice(OpCall{c.node, {&x, &st, &en, &ax}, std::max<int64_t>(c.opset, 10)}, one);
    out[i] = std::move(one[0]);
    start += split[i];
  }
  if (start != dim) c.fail("split sizes do not add up to the axis size");
}

void op_Range(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& start = c.input(0);
  visit_dtype(start.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      c.fail("bool Range");
    } else {
      const T s = c.input(0).data<T>()[0], l = c.input(1).data<T>()[0], d = c.input(2).data<T>()[0];
      if (d == 0) c.fail("delta is 0");
      double n = std::ceil((static_cast<double>(l) - static_cast<double>(s)) / static_cast<double>(d));
      int64_t count = std::max<int64_t>(0, static_cast<int64_t>(n));
      out[0] = Tensor(start.dtype(), {count});
      T* p = out[0].data<T>();
      for (int64_t i = 0; i < count; ++i) p[i] = static_cast<T>(s + static_cast<T>(i) * d);
    }
  });
}

void op_ConstantOfShape(const OpCall& c, std::vector<Tensor>& out) {
  std::vector<int64_t> spec = ints_of(c, 0);
  Shape s(spec.begin(), spec.end());
  if (c.node.has_attr("value")) {
    const Tensor& v = c.node.attr_tensor("value");
    out[0] = Tensor(v.dtype(), s);
    const size_t es = dtype_size(v.dtype());
    for (int64_t i = 0; i < out[0].numel(); ++i) std::memcpy(out[0].raw() + i * es, v.raw(), es);
  } else {
    out[0] = Tensor(DType::Float32, s);
  }
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
    const auto& v = std::get<std::vector<float>>(c.node.attrs.at("value_floats"));
    out[0] = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
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
  if (ind.rank() < 1) c.fail("indices must have rank >= 1");
  const int64_t k = ind.shape().back();
  if (k > x.rank()) c.fail("index depth exceeds data rank");
  out[0] = x;
  auto st = strides_of(x.shape());
  int64_t slice = 1;
  for (int a = static_cast<int>(k); a < x.rank(); ++a) slice *= x.shape()[a];
  const std::vector<int64_t> idx = ind.as_int64s();
  const int64_t n = k == 0 ? 1 : static_cast<int64_t>(idx.size()) / k;
  if (upd.numel() != n * slice) c.fail("updates shape does not match indices");
  const size_t es = dtype_size(x.dtype());
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int64_t j = 0; j < k; ++j) {
      int64_t v = idx[i * k + j];
      const int64_t dim = x.shape()[j];
      if (v < -dim || v >= dim) c.fail("index out of range");
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
        for (int64_t e = 0; e < slice; ++e) dst[e] = reduction == "add" ? static_cast<T>(dst[e] + src[e]) : static_cast<T>(dst[e] * src[e]);
      }
    });
  }
}

void op_Pad(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const int r = x.rank();
  std::vector<int64_t> pads = c.opset < 11 ? c.node.attr_ints("pads") : ints_of(c, 1);
  if (c.node.attr_string("mode", "constant") != "constant") c.fail("only constant padding is supported");
  if (static_cast<int>(pads.size()) != 2 * r) c.fail("pads must have 2*rank entries");
  Shape s = x.shape();
  for (int a = 0; a < r; ++a) {
    if (pads[a] < 0 || pads[a + r] < 0) c.fail("negative pads are not supported");
    s[a] += pads[a] + pads[a + r];
  }
  out[0] = Tensor(x.dtype(), s);
  const size_t es = dtype_size(x.dtype());
  const Tensor* fill = c.opset < 11 ? nullptr : c.optional_input(2);
  if (fill && fill->numel() > 0) {
    for (int64_t i = 0; i < out[0].numel(); ++i) std::memcpy(out[0].raw() + i * es, fill->raw(), es);
  } else if (c.opset < 11 && x.dtype() == DType::Float32) {
    std::fill_n(out[0].data<float>(), out[0].numel(), c.node.attr_float("value", 0.f));
  }
  auto ost = strides_of(s);
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t off = 0;
    for (int a = 0; a < r; ++a) off += (idx[a] + pads[a]) * ost[a];
    std::memcpy(out[0].raw() + off * es, x.raw() + i * es, es);
    for (int a = r - 1; a >= 0; --a) {
      if (++idx[a] < x.shape()[a]) break;
      idx[a] = 0;
    }
  }
}

}  // namespace

void register_shape_ops(OpTable& t) {
  t.insert(t.end(), {
      {"Identity", op_Identity}, {"Dropout", op_Identity}, {"Shape", op_Shape}, {"Size", op_Size},
      {"Reshape", op_Reshape}, {"Flatten", op_Flatten}, {"Squeeze", op_Squeeze}, {"Unsqueeze", op_Unsqueeze},
      {"Transpose", op_Transpose}, {"Concat", op_Concat}, {"Slice", op_Slice}, {"Gather", op_Gather},
      {"Expand", op_Expand}, {"Tile", op_Tile}, {"Split", op_Split}, {"Range", op_Range},
      {"ConstantOfShape", op_ConstantOfShape}, {"Constant", op_Constant}, {"ScatterND", op_ScatterND},
      {"Pad", op_Pad},
  });
}

}  // namespace qvit
