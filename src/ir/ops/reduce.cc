// Reductions (ReduceMean/Sum/Max/Min/Prod, ArgMax/ArgMin) over any set of axes. Reduce ops take
// scalars (no axes: the scalar itself); ArgMax/ArgMin need an axis, so they reject them.
#include <algorithm>
#include <limits>

#include "ir/op_registry.h"
#include "ir/ops/safe_math.h"

namespace qvit {
namespace {

enum class Reduce { Sum, Mean, Max, Min, Prod };

// Output shape plus, for each input axis, whether it is reduced.
struct ReducePlan {
  Shape out_shape;      // with keepdims applied
  Shape kept_shape;     // reduced axes as 1 (for offset computation)
  std::vector<char> reduced;
  int64_t group = 1;    // elements folded into each output (valid for a non-empty input)
};

ReducePlan plan_reduce(const OpCall& c, const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  const int r = x.rank();
  ReducePlan p;
  p.reduced.assign(r, 0);
  // No axes reduces everything, which is also how a rank-0 input reduces (to itself).
  if (axes.empty()) std::fill(p.reduced.begin(), p.reduced.end(), 1);
  for (int64_t a : axes) p.reduced[normalize_axis(c, a, r)] = 1;
  for (int a = 0; a < r; ++a) {
    if (p.reduced[a]) {
      // (Only multiplied for inputs with data: an empty one's dims may overflow.)
      if (x.numel() > 0) p.group *= x.shape()[a];
      p.kept_shape.push_back(1);
      if (keepdims) p.out_shape.push_back(1);
    } else {
      p.kept_shape.push_back(x.shape()[a]);
      p.out_shape.push_back(x.shape()[a]);
    }
  }
  return p;
}

// Calls fold(out_index, in_index, n, out_step) for each innermost input row of n elements, where
// element k of the row folds into output out_index + k·out_step. x is non-empty with rank ≥ 1.
template <class Fold>
void for_each_reduce_row(const Tensor& x, const ReducePlan& p, Fold&& fold) {
  const int r = x.rank();
  const auto kst = strides_of(p.kept_shape);
  std::vector<int64_t> ost(r);
  for (int a = 0; a < r; ++a) ost[a] = p.reduced[a] ? 0 : kst[a];
  const int64_t len = x.shape()[r - 1];
  std::vector<int64_t> idx(r, 0);
  int64_t o = 0;
  for (int64_t i = 0; i < x.numel(); i += len) {
    fold(o, i, len, ost[r - 1]);
    for (int a = r - 2; a >= 0; --a) {
      o += ost[a];
      if (++idx[a] < x.shape()[a]) break;
      o -= ost[a] * x.shape()[a];
      idx[a] = 0;
    }
  }
}

template <Reduce R>
void reduce_op(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> axes = c.node.attr_ints("axes");
  if (!c.node.has_attr("axes") && c.optional_input(1)) axes = int_list_input(c, 1, "axes");
  const bool keepdims = c.node.attr_int("keepdims", 1) != 0;
  if (axes.empty() && c.node.attr_int("noop_with_empty_axes", 0) != 0) { out[0] = x; return; }
  ReducePlan p = plan_reduce(c, x, axes, keepdims);
  out[0] = Tensor(x.dtype(), p.out_shape, Tensor::Uninitialized{});
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      c.fail("does not take bool input");
    } else {
      using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
      const int64_t n_out = out[0].numel();
      Acc init = 0;
      if constexpr (R == Reduce::Max) init = static_cast<Acc>(std::numeric_limits<T>::lowest());
      if constexpr (R == Reduce::Min) init = static_cast<Acc>(std::numeric_limits<T>::max());
      if constexpr (R == Reduce::Prod) init = 1;
      std::vector<Acc> acc(static_cast<size_t>(n_out), init);
      const T* px = x.data<T>();
      // Integer sums and products wrap rather than overflow (UB); see ops/safe_math.h.
      auto fold = [](Acc a, Acc v) {
        if constexpr (R == Reduce::Max) return v > a ? v : a;
        else if constexpr (R == Reduce::Min) return v < a ? v : a;
        else if constexpr (R == Reduce::Prod) return ops::wrap_mul(a, v);
        else return ops::wrap_add(a, v);
      };
      if (x.numel() == 0) {
        // Nothing to fold: every output is the identity element.
      } else if (x.rank() == 0) {
        acc[0] = fold(acc[0], static_cast<Acc>(px[0]));
      } else if (n_out * p.group == x.numel() && std::find(p.reduced.begin(), p.reduced.end(), 1) != p.reduced.end() &&
                 std::is_sorted(p.reduced.begin(), p.reduced.end())) {
        // Fast path: reducing the trailing contiguous block (LayerNorm-style mean over the last axis).
        for (int64_t o = 0; o < n_out; ++o)
          for (int64_t k = 0; k < p.group; ++k) acc[o] = fold(acc[o], static_cast<Acc>(px[o * p.group + k]));
      } else {
        // Walks the input once with a running output offset (no per-element index map, which
        // would take 8 bytes per input element).
        for_each_reduce_row(x, p, [&](int64_t o, int64_t i, int64_t n, int64_t step) {
          for (int64_t k = 0; k < n; ++k) acc[o + k * step] = fold(acc[o + k * step], static_cast<Acc>(px[i + k]));
        });
      }
      T* po = out[0].data<T>();
      for (int64_t o = 0; o < n_out; ++o) {
        Acc v = acc[o];
        if constexpr (R == Reduce::Mean) v = p.group && x.numel() ? v / static_cast<Acc>(p.group) : v;
        po[o] = ops::convert<T>(v);
      }
    }
  });
}

template <bool IsMax>
void arg_op(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  if (x.rank() == 0) c.fail("input must have rank >= 1 (a scalar has no axis to search)");
  const int axis = normalize_axis(c, c.node.attr_int("axis", 0), x.rank());
  const bool keepdims = c.node.attr_int("keepdims", 1) != 0;
  const bool last = c.node.attr_int("select_last_index", 0) != 0;
  ReducePlan p = plan_reduce(c, x, {axis}, keepdims);
  out[0] = Tensor(DType::Int64, p.out_shape, Tensor::Uninitialized{});
  if (out[0].numel() == 0) return;
  const int64_t dim = x.shape()[axis];
  if (dim == 0) c.fail("cannot search an empty axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()));
  // Output non-empty and dim > 0: x holds data, so these products fit.
  const int64_t outer = span_numel(c, x.shape(), 0, axis), inner = span_numel(c, x.shape(), axis + 1, x.shape().size());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    int64_t* po = out[0].data<int64_t>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t best = 0;
        for (int64_t k = 1; k < dim; ++k) {
          T v = px[(o * dim + k) * inner + i], b = px[(o * dim + best) * inner + i];
          bool better = IsMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
          if (better) best = k;
        }
        po[o * inner + i] = best;
      }
  });
}

}  // namespace

void register_reduce_ops(OpTable& t) {
  t.insert(t.end(), {
      {"ReduceSum", reduce_op<Reduce::Sum>}, {"ReduceMean", reduce_op<Reduce::Mean>},
      {"ReduceMax", reduce_op<Reduce::Max>}, {"ReduceMin", reduce_op<Reduce::Min>},
      {"ReduceProd", reduce_op<Reduce::Prod>}, {"ArgMax", arg_op<true>}, {"ArgMin", arg_op<false>},
  });
}

}  // namespace qvit
