// Reductions (ReduceMean/Sum/Max/Min/Prod, ArgMax/ArgMin) over any set of axes.
#include <algorithm>
#include <limits>

#include "ir/op_registry.h"

namespace qvit {
namespace {

enum class Reduce { Sum, Mean, Max, Min, Prod };

// Output shape plus, for each input axis, whether it is reduced.
struct ReducePlan {
  Shape out_shape;      // with keepdims applied
  Shape kept_shape;     // reduced axes as 1 (for offset computation)
  std::vector<char> reduced;
  int64_t group = 1;    // elements folded into each output
};

ReducePlan plan_reduce(const OpCall& c, const Tensor& x, std::vector<int64_t> axes, bool keepdims) {
  const int r = x.rank();
  ReducePlan p;
  p.reduced.assign(r, 0);
  if (axes.empty()) std::fill(p.reduced.begin(), p.reduced.end(), 1);
  for (int64_t a : axes) p.reduced[normalize_axis(c, a, r)] = 1;
  for (int a = 0; a < r; ++a) {
    if (p.reduced[a]) {
      p.group *= x.shape()[a];
      p.kept_shape.push_back(1);
      if (keepdims) p.out_shape.push_back(1);
    } else {
      p.kept_shape.push_back(x.shape()[a]);
      p.out_shape.push_back(x.shape()[a]);
    }
  }
  return p;
}

// For each input element, the flat index of the output element it reduces into.
std::vector<int64_t> output_index_map(const Tensor& x, const ReducePlan& p) {
  const int r = x.rank();
  auto kst = strides_of(p.kept_shape);
  std::vector<int64_t> map(static_cast<size_t>(x.numel()));
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t o = 0;
    for (int a = 0; a < r; ++a)
      if (!p.reduced[a]) o += idx[a] * kst[a];
    map[i] = o;
    for (int a = r - 1; a >= 0; --a) {
      if (++idx[a] < x.shape()[a]) break;
      idx[a] = 0;
    }
  }
  return map;
}

template <Reduce R>
void reduce_op(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> axes = c.node.attr_ints("axes");
  if (!c.node.has_attr("axes"))
    if (const Tensor* t = c.optional_input(1)) axes = t->as_int64s();
  const bool keepdims = c.node.attr_int("keepdims", 1) != 0;
  if (axes.empty() && c.node.attr_int("noop_with_empty_axes", 0) != 0) { out[0] = x; return; }
  ReducePlan p = plan_reduce(c, x, axes, keepdims);
  out[0] = Tensor(x.dtype(), p.out_shape);
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
      // Fast path: reducing the trailing contiguous block (LayerNorm-style mean over the last axis).
      const bool trailing = p.group > 0 && n_out * p.group == x.numel() &&
                            std::find(p.reduced.begin(), p.reduced.end(), 1) != p.reduced.end() &&
                            std::is_sorted(p.reduced.begin(), p.reduced.end());
      auto fold = [](Acc a, Acc v) {
        if constexpr (R == Reduce::Max) return v > a ? v : a;
        else if constexpr (R == Reduce::Min) return v < a ? v : a;
        else if constexpr (R == Reduce::Prod) return a * v;
        else return a + v;
      };
      if (trailing) {
        for (int64_t o = 0; o < n_out; ++o)
          for (int64_t k = 0; k < p.group; ++k) acc[o] = fold(acc[o], static_cast<Acc>(px[o * p.group + k]));
      } else {
        std::vector<int64_t> map = output_index_map(x, p);
        for (int64_t i = 0; i < x.numel(); ++i) acc[map[i]] = fold(acc[map[i]], static_cast<Acc>(px[i]));
      }
      T* po = out[0].data<T>();
      for (int64_t o = 0; o < n_out; ++o) {
        Acc v = acc[o];
        if constexpr (R == Reduce::Mean) v = p.group ? v / static_cast<Acc>(p.group) : v;
        po[o] = static_cast<T>(v);
      }
    }
  });
}

template <bool IsMax>
void arg_op(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const int axis = normalize_axis(c, c.node.attr_int("axis", 0), x.rank());
  const bool keepdims = c.node.attr_int("keepdims", 1) != 0;
  const bool last = c.node.attr_int("select_last_index", 0) != 0;
  ReducePlan p = plan_reduce(c, x, {axis}, keepdims);
  out[0] = Tensor(DType::Int64, p.out_shape);
  int64_t outer = 1, inner = 1;
  for (int a = 0; a < axis; ++a) outer *= x.shape()[a];
  for (int a = axis + 1; a < x.rank(); ++a) inner *= x.shape()[a];
  const int64_t dim = x.shape()[axis];
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
