// Gradients of the normalization and pooling ops: Softmax (any axis), LayerNorm /
// LayerNormalization (over [axis, rank)), MaxPool (to the first maximum of each window, the one
// the forward kernel picks), GlobalAveragePool, ReduceMean and ReduceSum.
#include <algorithm>
#include <cmath>
#include <set>

#include "grad/rule_util.h"
#include "ir/ops/window.h"

namespace qvit {
namespace {

// outer × dim × inner view of a shape around `axis`.
struct AxisView {
  int64_t outer = 1, dim = 1, inner = 1;
};
AxisView axis_view(const Shape& s, int axis) {
  AxisView v;
  for (int a = 0; a < axis; ++a) v.outer *= s[a];
  v.dim = s[axis];
  for (size_t a = axis + 1; a < s.size(); ++a) v.inner *= s[a];
  return v;
}

// dx = y ⊙ (dy − Σ_axis dy ⊙ y)
void vjp_Softmax(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (!c.wants[0]) return;
  const Tensor& y = c.output(0);
  Tensor dx = c.cotangent(0);
  const int r = y.rank();
  const OpCall oc = attribute_call(c);
  const int axis = normalize_axis(oc, c.node.attr_int("axis", c.opset < 13 ? 1 : -1), r);
  AxisView v = axis_view(y.shape(), axis);
  if (c.opset < 13) v = {v.outer, v.dim * v.inner, 1};  // coerced to 2-D at `axis`
  const float* py = y.data<float>();
  float* pg = dx.data<float>();
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      double dot = 0;
      for (int64_t k = 0; k < v.dim; ++k) {
        const int64_t at = (o * v.dim + k) * v.inner + i;
        dot += double{pg[at]} * py[at];
      }
      for (int64_t k = 0; k < v.dim; ++k) {
        const int64_t at = (o * v.dim + k) * v.inner + i;
        pg[at] = py[at] * static_cast<float>(pg[at] - dot);
      }
    }
  in_cot[0] = std::move(dx);
}

// x̂ = (x − μ)·σ⁻¹, y = γ x̂ + β: dx = σ⁻¹ (dyγ − mean(dyγ) − x̂ · mean(dyγ ⊙ x̂)) per row.
void vjp_LayerNorm(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (!c.wants[0]) return;
  const Tensor& x = c.input(0);
  const Tensor& gamma = c.input(1);
  const OpCall oc = attribute_call(c);
  const int axis = normalize_axis(oc, c.node.attr_int("axis", -1), x.rank());
  const double eps = c.node.attr_float("epsilon", 1e-5f);
  int64_t len = 1;
  for (int a = axis; a < x.rank(); ++a) len *= x.shape()[a];
  const int64_t rows = len > 0 ? x.numel() / len : 0;
  Tensor dx = c.cotangent(0);
  const float* px = x.data<float>();
  const float* pgam = gamma.data<float>();
  float* pg = dx.data<float>();
  std::vector<double> xhat(static_cast<size_t>(len)), gy(static_cast<size_t>(len));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = px + r * len;
    double mean = 0, var = 0;
    for (int64_t k = 0; k < len; ++k) mean += row[k];
    mean /= static_cast<double>(len);
    for (int64_t k = 0; k < len; ++k) var += (row[k] - mean) * (row[k] - mean);
    var /= static_cast<double>(len);
    const double inv = 1.0 / std::sqrt(var + eps);
    double m1 = 0, m2 = 0;
    for (int64_t k = 0; k < len; ++k) {
      xhat[k] = (row[k] - mean) * inv;
      gy[k] = double{pg[r * len + k]} * pgam[gamma.numel() == 1 ? 0 : k];
      m1 += gy[k];
      m2 += gy[k] * xhat[k];
    }
    m1 /= static_cast<double>(len);
    m2 /= static_cast<double>(len);
    for (int64_t k = 0; k < len; ++k) pg[r * len + k] = static_cast<float>(inv * (gy[k] - m1 - xhat[k] * m2));
  }
  in_cot[0] = std::move(dx);
}

// Each output's cotangent goes to the first maximum of its window (the forward's choice).
void vjp_MaxPool(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (!c.wants[0]) return;
  const Tensor& x = c.input(0);
  const OpCall oc = attribute_call(c);
  WindowOptions options;
  options.allow_ceil_mode = true;
  const WindowGeometry g = window_geometry(oc, x.shape(), options);
  int64_t in_plane = 1, out_plane = 1;
  for (size_t d = 0; d < g.in.size(); ++d) in_plane *= g.in[d], out_plane *= g.out[d];
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const Tensor dy = c.cotangent(0);
  Tensor dx(DType::Float32, x.shape());
  const float* px = x.data<float>();
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oi = 0; oi < out_plane; ++oi) {
      int64_t best_off = -1;
      float best = 0;
      for_each_window_tap(g, oi, [&](int64_t off) {
        const float v = px[p * in_plane + off];
        if (best_off < 0 || v > best) best = v, best_off = off;
      });
      if (best_off >= 0) dx.data<float>()[p * in_plane + best_off] += dy.data<float>()[p * out_plane + oi];
    }
  in_cot[0] = std::move(dx);
}

// Axes a reduction runs over (all when none are given, unless noop_with_empty_axes).
std::set<int> reduce_axes(const BackwardCall& c, int rank) {
  std::vector<int64_t> axes;
  if (c.node.has_attr("axes")) axes = c.node.attr_ints("axes");
  else if (c.in.size() > 1 && c.in[1]) axes = c.in[1]->as_int64s();
  const OpCall oc = attribute_call(c);
  std::set<int> s;
  for (int64_t a : axes) s.insert(normalize_axis(oc, a, rank));
  if (axes.empty() && c.node.attr_int("noop_with_empty_axes", 0) == 0)
    for (int a = 0; a < rank; ++a) s.insert(a);
  return s;
}

// dx = dy broadcast back over the reduced axes, times 1/count for a mean.
void reduce_backward(const BackwardCall& c, std::vector<Tensor>& in_cot, bool mean, const std::set<int>& axes) {
  if (!c.wants[0]) return;
  const Shape& xs = c.in_shape[0];
  Shape kept = xs;
  int64_t count = 1;
  for (int a : axes) {
    count *= xs[a];
    kept[a] = 1;
  }
  Tensor dy = c.cotangent(0);
  dy = std::move(dy).reshaped(kept);
  Tensor dx = broadcast_to_shape(dy, xs);
  if (mean && count > 0)
    for (float& v : dx.values<float>()) v /= static_cast<float>(count);
  in_cot[0] = std::move(dx);
}

void vjp_GlobalAveragePool(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  std::set<int> axes;
  for (int a = 2; a < static_cast<int>(c.in_shape[0].size()); ++a) axes.insert(a);
  reduce_backward(c, in_cot, true, axes);
}
void vjp_ReduceMean(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  reduce_backward(c, in_cot, true, reduce_axes(c, static_cast<int>(c.in_shape[0].size())));
}
void vjp_ReduceSum(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  reduce_backward(c, in_cot, false, reduce_axes(c, static_cast<int>(c.in_shape[0].size())));
}

}  // namespace

void register_vjp_nn(RuleTable& t) {
  t.insert(t.end(), {{"Softmax", {vjp_Softmax, false, true}},
                     {"LayerNorm", {vjp_LayerNorm, true, false}},
                     {"LayerNormalization", {vjp_LayerNorm, true, false}},
                     {"MaxPool", {vjp_MaxPool, true, false}},
                     {"GlobalAveragePool", {vjp_GlobalAveragePool, false, false}},
                     {"ReduceMean", {vjp_ReduceMean, false, false}},
                     {"ReduceSum", {vjp_ReduceSum, false, false}}});
}

}  // namespace qvit
