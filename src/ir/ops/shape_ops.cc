// Data-movement and shape ONNX ops. These are dtype-agnostic: they move elements as bytes.
// With a static input shape the importer folds most of them into constants; the ones left on the
// data path (Reshape, Transpose, Concat, Slice, Gather, ...) run here. The ops that create data
// (Expand, Tile, Range, ConstantOfShape, Constant, ScatterND, Pad) are in fill_ops.cc.
//
// Shapes, axes and indices come from the model, so every one is validated against the input and
// all shape arithmetic is overflow-checked (op_registry.h): an empty tensor may legally declare
// dims like [0, 2^40, 2^40] whose partial products do not fit int64.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ir/op_registry.h"
#include "util/thread_pool.h"

namespace qvit {
namespace {

// Axes from an attribute (older opsets) or from input `index` (newer ones); empty if neither.
std::vector<int64_t> axes_attr_or_input(const OpCall& c, size_t index) {
  if (c.node.has_attr("axes")) return c.node.attr_ints("axes");
  if (c.optional_input(index)) return int_list_input(c, index, "axes");
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
  for (size_t i = 1; i < out.size(); ++i) {
    out[i] = Tensor(DType::Bool, c.input(0).shape());  // Dropout mask: all kept
    if (out[i].nbytes() > 0) std::memset(out[i].raw(), 1, out[i].nbytes());
  }
}

void op_Shape(const OpCall& c, std::vector<Tensor>& out) {
  const Shape& s = c.input(0).shape();
  int64_t r = static_cast<int64_t>(s.size());
  int64_t start = c.node.attr_int("start", 0), end = c.node.attr_int("end", r);
  // Clamped before the shift so that INT64_MIN cannot overflow.
  start = std::clamp<int64_t>(start, -r, r);
  end = std::clamp<int64_t>(end, -r, r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  std::vector<int64_t> v(s.begin() + start, s.begin() + std::max(start, end));
  out[0] = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
}

void op_Size(const OpCall& c, std::vector<Tensor>& out) { out[0] = Tensor::scalar<int64_t>(c.input(0).numel()); }

void op_Reshape(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const std::vector<int64_t> spec = int_list_input(c, 1, "shape");
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
    known = shape_mul(c, known, d);
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0) c.fail("cannot infer -1 reshaping " + shape_str(x.shape()));
    shape[infer] = x.numel() / known;
  } else if (known != x.numel()) {
    c.fail("cannot reshape " + shape_str(x.shape()) + " to " + shape_str(shape));
  }
  out[0] = x.reshaped(shape);
}

void op_Flatten(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const int r = x.rank();
  int64_t axis = c.node.attr_int("axis", 1);
  if (axis < -r || axis > r) c.fail("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(r));
  if (axis < 0) axis += r;
  // Both factors from the dims (not numel / outer: [0, 3] flattens to [0, 3]).
  const size_t a = static_cast<size_t>(axis);
  out[0] = x.reshaped({span_numel(c, x.shape(), 0, a), span_numel(c, x.shape(), a, x.shape().size())});
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
    if (ins[n]) c.fail("repeated axis " + std::to_string(a));
    ins[n] = 1;
  }
  Shape s;
  size_t k = 0;
  for (int i = 0; i < r; ++i) s.push_back(ins[i] ? 1 : x.shape()[k++]);
  out[0] = x.reshaped(s);
}

// Copies elements of `x` into `y` where y[idx] = x[perm-mapped idx]; generic over element size.
// Output axes that are consecutive in the input too (and size-1 axes) are merged first, so the
// loops run over as few and as long axes as the permutation allows; the rows (all axes but the
// last) are walked with an odometer, one division per chunk of rows instead of per row.
template <class E>
void transpose_typed(const Tensor& x, Tensor& y, const std::vector<int64_t>& perm) {
  const int64_t total = y.numel();
  if (total == 0) return;  // (before the strides: an empty input's may overflow)
  const int r = x.rank();
  const E* src = reinterpret_cast<const E*>(x.raw());
  E* dst = reinterpret_cast<E*>(y.raw());
  if (r == 0) { dst[0] = src[0]; return; }
  const auto in_st = strides_of(x.shape());
  std::vector<int64_t> dims, st;  // merged output axes: size and input stride
  for (int i = 0; i < r; ++i) {
    const int64_t d = y.shape()[i], stride = in_st[perm[i]];
    if (d == 1) continue;
    if (!dims.empty() && st.back() == stride * d) {
      dims.back() *= d;
      st.back() = stride;
    } else {
      dims.push_back(d);
      st.push_back(stride);
    }
  }
  if (dims.empty()) { dst[0] = src[0]; return; }
  const int m = static_cast<int>(dims.size());
  const int64_t len = dims[m - 1], s_in = st[m - 1];
  const int64_t rows = total / len;
  parallel_for(rows, std::max<int64_t>(1, (1 << 15) / len), [&](int64_t row_begin, int64_t row_end) {
    std::vector<int64_t> idx(static_cast<size_t>(m), 0);
    int64_t off = 0;
    for (int64_t a = m - 2, rem = row_begin; a >= 0; --a) {
      idx[a] = rem % dims[a];
      rem /= dims[a];
      off += idx[a] * st[a];
    }
    for (int64_t row = row_begin; row < row_end; ++row) {
      E* d = dst + row * len;
      if (s_in == 1) {
        std::memcpy(d, src + off, static_cast<size_t>(len) * sizeof(E));  // last axis kept: contiguous run
      } else {
        for (int64_t k = 0; k < len; ++k) d[k] = src[off + k * s_in];
      }
      for (int a = m - 2; a >= 0; --a) {  // next row: the odometer
        off += st[a];
        if (++idx[a] < dims[a]) break;
        off -= idx[a] * st[a];
        idx[a] = 0;
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
  if (static_cast<int>(perm.size()) != r)
    c.fail("perm has " + std::to_string(perm.size()) + " entries for an input of rank " + std::to_string(r));
  std::vector<char> seen(r, 0);
  Shape s(r);
  for (int i = 0; i < r; ++i) {
    if (perm[i] < 0 || perm[i] >= r || seen[perm[i]]) c.fail("perm is not a permutation of 0.." + std::to_string(r - 1));
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
  if (keeps_order || x.numel() == 0) {
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
  if (r == 0) c.fail("inputs must have rank >= 1 (scalars cannot be concatenated)");
  const int axis = normalize_axis(c, c.node.attr_int("axis"), r);
  Shape s = first.shape();
  s[axis] = 0;
  for (size_t i = 0; i < c.in.size(); ++i) {
    const Tensor& t = c.input(i);
    if (t.dtype() != first.dtype() || t.rank() != r)
      c.fail("input #" + std::to_string(i) + " is " + dtype_name(t.dtype()) + " " + shape_str(t.shape()) + ", input #0 " +
             dtype_name(first.dtype()) + " " + shape_str(first.shape()) + ": types or ranks differ");
    for (int a = 0; a < r; ++a)
      if (a != axis && t.shape()[a] != first.shape()[a])
        c.fail("input shapes " + shape_str(first.shape()) + " and " + shape_str(t.shape()) + " differ off the concat axis");
    s[axis] = shape_add(c, s[axis], t.shape()[axis]);
  }
  out[0] = Tensor(first.dtype(), s, Tensor::Uninitialized{});
  if (out[0].numel() == 0) return;
  const int64_t outer = span_numel(c, s, 0, axis), inner = span_numel(c, s, axis + 1, s.size());
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

// Elements a slice of an axis of size `dim` takes with step k ≠ 0, with *begin set to the first
// index taken. Computed without overflow for any starts/ends/steps (INT64_MIN, INT64_MAX).
int64_t slice_count(int64_t dim, int64_t b, int64_t e, int64_t k, int64_t* begin) {
  // Clamped before the negative shift, so b + dim cannot overflow.
  b = std::clamp<int64_t>(b, -dim - 1, dim + 1);
  e = std::clamp<int64_t>(e, -dim - 1, dim + 1);
  if (b < 0) b += dim;
  if (e < 0) e += dim;
  if (k > 0) {
    b = std::clamp<int64_t>(b, 0, dim);
    e = std::clamp<int64_t>(e, 0, dim);
    *begin = b;
    return e > b ? (e - b - 1) / k + 1 : 0;
  }
  *begin = 0;
  if (dim == 0) return 0;
  b = std::clamp<int64_t>(b, 0, dim - 1);
  e = std::clamp<int64_t>(e, -1, dim - 1);
  *begin = b;
  const uint64_t mag = uint64_t{0} - static_cast<uint64_t>(k);  // |k|, also for INT64_MIN
  return b > e ? static_cast<int64_t>(static_cast<uint64_t>(b - e - 1) / mag) + 1 : 0;
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
    starts = int_list_input(c, 1, "starts");
    ends = int_list_input(c, 2, "ends");
    if (c.optional_input(3)) axes = int_list_input(c, 3, "axes");
    if (c.optional_input(4)) steps = int_list_input(c, 4, "steps");
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    c.fail("starts/ends/axes/steps lengths differ");
  std::vector<int64_t> st(r, 0), step(r, 1);
  std::vector<char> seen(r, 0);
  Shape s = x.shape();
  for (size_t i = 0; i < starts.size(); ++i) {
    int a = normalize_axis(c, axes[i], r);
    if (seen[a]) c.fail("axis " + std::to_string(axes[i]) + " is sliced twice");
    seen[a] = 1;
    if (steps[i] == 0) c.fail("step 0");
    s[a] = slice_count(x.shape()[a], starts[i], ends[i], steps[i], &st[a]);
    step[a] = steps[i];
  }
  out[0] = Tensor(x.dtype(), s, Tensor::Uninitialized{});
  const int64_t total = out[0].numel();
  if (total == 0) return;
  auto in_st = strides_of(x.shape());  // x holds data here, so its strides fit
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
  if (ind.dtype() != DType::Int64 && ind.dtype() != DType::Int32)
    c.fail(std::string("indices must be int64 or int32, got ") + dtype_name(ind.dtype()));
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
  out[0] = Tensor(x.dtype(), s, Tensor::Uninitialized{});
  if (out[0].numel() == 0) return;
  // Output non-empty: x holds data and these products are within its element count.
  const int64_t outer = span_numel(c, x.shape(), 0, axis), inner = span_numel(c, x.shape(), axis + 1, r);
  const size_t bytes = static_cast<size_t>(inner) * dtype_size(x.dtype());
  std::byte* dst = out[0].raw();
  for (int64_t o = 0; o < outer; ++o)
    for (size_t j = 0; j < idx.size(); ++j)
      std::memcpy(dst + (o * static_cast<int64_t>(idx.size()) + static_cast<int64_t>(j)) * static_cast<int64_t>(bytes),
                  x.raw() + (o * dim + idx[j]) * static_cast<int64_t>(bytes), bytes);
}

void op_Split(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  if (x.rank() == 0) c.fail("input must have rank >= 1 (a scalar cannot be split)");
  const int axis = normalize_axis(c, c.node.attr_int("axis", 0), x.rank());
  std::vector<int64_t> split = c.node.attr_ints("split");
  if (!c.node.has_attr("split") && c.optional_input(1)) split = int_list_input(c, 1, "split");
  const int64_t dim = x.shape()[axis];
  const int64_t n = static_cast<int64_t>(out.size());
  if (n == 0) c.fail("has no outputs");
  if (split.empty()) {
    // Equal parts (the last one smaller when the axis does not divide, as opset 18 defines).
    const int64_t part = dim / n + (dim % n != 0);
    for (int64_t i = 0; i < n; ++i) split.push_back(std::clamp<int64_t>(dim - i * part, 0, part));
  }
  if (static_cast<int64_t>(split.size()) != n)
    c.fail("split has " + std::to_string(split.size()) + " entries for " + std::to_string(n) + " outputs");
  int64_t total = 0;
  for (int64_t v : split) {
    if (v < 0) c.fail("negative split size " + std::to_string(v));
    total = shape_add(c, total, v);
  }
  if (total != dim)
    c.fail("split sizes add up to " + std::to_string(total) + ", the axis has " + std::to_string(dim));
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
}

}  // namespace

void register_shape_ops(OpTable& t) {
  t.insert(t.end(), {
      {"Identity", op_Identity}, {"Dropout", op_Identity}, {"Shape", op_Shape}, {"Size", op_Size},
      {"Reshape", op_Reshape}, {"Flatten", op_Flatten}, {"Squeeze", op_Squeeze}, {"Unsqueeze", op_Unsqueeze},
      {"Transpose", op_Transpose}, {"Concat", op_Concat}, {"Slice", op_Slice}, {"Gather", op_Gather},
      {"Split", op_Split},
  });
  register_fill_ops(t);
}

}  // namespace qvit
