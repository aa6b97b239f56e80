#include "ir/strided_view.h"

#include <algorithm>

namespace qvit {

StridedView StridedView::contiguous(const Shape& shape) {
  StridedView v;
  v.shape = shape;
  v.strides = strides_of(shape);
  return v;
}

std::optional<StridedView> reshape_view(const StridedView& in, const Shape& shape) {
  // An empty value needs no view (and its dims' partial products below could overflow).
  const int64_t n = shape_numel(in.shape);
  if (n == 0 || shape_numel(shape) != n) return std::nullopt;
  // Size-1 axes carry no stride information: drop them on both sides, re-insert them at the end.
  std::vector<int64_t> od, os;
  for (size_t i = 0; i < in.shape.size(); ++i)
    if (in.shape[i] != 1) {
      od.push_back(in.shape[i]);
      os.push_back(in.strides[i]);
    }
  std::vector<int64_t> nd;
  for (int64_t d : shape)
    if (d != 1) nd.push_back(d);
  std::vector<int64_t> ns(nd.size(), 0);
  // Match groups of old and new axes with equal products; within a group the old axes must be
  // laid out contiguously relative to each other for the group to be re-split with strides.
  size_t oi = 0, ni = 0;
  while (oi < od.size() && ni < nd.size()) {
    size_t oj = oi + 1, nj = ni + 1;
    int64_t op = od[oi], np = nd[ni];
    while (op != np) {
      if (np < op) {
        if (nj >= nd.size()) return std::nullopt;
        np *= nd[nj++];
      } else {
        if (oj >= od.size()) return std::nullopt;
        op *= od[oj++];
      }
    }
    for (size_t k = oi; k + 1 < oj; ++k)
      if (os[k] != od[k + 1] * os[k + 1]) return std::nullopt;
    ns[nj - 1] = os[oj - 1];
    for (size_t k = nj - 1; k > ni; --k) ns[k - 1] = ns[k] * nd[k];
    oi = oj;
    ni = nj;
  }
  if (oi != od.size() || ni != nd.size()) return std::nullopt;
  StridedView out;
  out.shape = shape;
  out.offset = in.offset;
  size_t k = 0;
  for (int64_t d : shape) out.strides.push_back(d == 1 ? 0 : ns[k++]);
  return out;
}

namespace {

std::optional<std::vector<int64_t>> constant_ints(const Graph& g, const Node& node, size_t i) {
  if (i >= node.inputs.size() || node.inputs[i] < 0) return std::vector<int64_t>{};
  if (!g.is_constant(node.inputs[i])) return std::nullopt;
  const DType t = g.constant(node.inputs[i]).dtype();
  if (t != DType::Int64 && t != DType::Int32) return std::nullopt;  // the Slice kernel reports it
  return g.constant(node.inputs[i]).as_int64s();
}

std::optional<StridedView> slice_view(const Graph& g, const Node& node, const StridedView& in) {
  if (g.opset < 10) return std::nullopt;
  auto starts = constant_ints(g, node, 1), ends = constant_ints(g, node, 2), axes = constant_ints(g, node, 3),
       steps = constant_ints(g, node, 4);
  if (!starts || !ends || !axes || !steps || starts->size() != ends->size()) return std::nullopt;
  const int r = static_cast<int>(in.shape.size());
  if (axes->empty())
    for (size_t i = 0; i < starts->size(); ++i) axes->push_back(static_cast<int64_t>(i));
  if (steps->empty()) steps->assign(starts->size(), 1);
  if (axes->size() != starts->size() || steps->size() != starts->size()) return std::nullopt;
  StridedView out = in;
  for (size_t i = 0; i < starts->size(); ++i) {
    int64_t a = (*axes)[i] < 0 ? (*axes)[i] + r : (*axes)[i];
    const int64_t k = (*steps)[i];
    if (a < 0 || a >= r || k <= 0) return std::nullopt;
    const int64_t dim = in.shape[a];
    // Clamped before the shift and the count formed without e − b + k, so that any int64 bounds
    // and steps (INT64_MIN, INT64_MAX) stay defined.
    int64_t b = std::clamp<int64_t>((*starts)[i], -dim, dim), e = std::clamp<int64_t>((*ends)[i], -dim, dim);
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    out.shape[a] = e > b ? (e - b - 1) / k + 1 : 0;
    if (out.shape[a] == 0) return std::nullopt;  // empty: nothing to view
    out.offset += b * in.strides[a];
    // With two or more elements k < dim, so the product stays inside the source's extent.
    out.strides[a] = out.shape[a] > 1 ? in.strides[a] * k : in.strides[a];
  }
  return out;
}

}  // namespace

std::optional<StridedView> view_through(const Graph& g, const Node& node, const StridedView& in) {
  if (node.outputs.size() != 1 || node.inputs.empty() || node.outputs[0] < 0) return std::nullopt;
  const Shape& out_shape = g.value(node.outputs[0]).shape;
  std::optional<StridedView> out;
  if (node.op == "Transpose") {
    const int r = static_cast<int>(in.shape.size());
    std::vector<int64_t> perm = node.attr_ints("perm");
    if (perm.empty())
      for (int i = r - 1; i >= 0; --i) perm.push_back(i);
    if (static_cast<int>(perm.size()) != r) return std::nullopt;
    out = StridedView{{}, {}, in.offset};
    std::vector<char> seen(static_cast<size_t>(r), 0);
    for (int64_t p : perm) {
      // A repeated axis would view past the end of the source buffer.
      if (p < 0 || p >= r || seen[static_cast<size_t>(p)]) return std::nullopt;
      seen[static_cast<size_t>(p)] = 1;
      out->shape.push_back(in.shape[p]);
      out->strides.push_back(in.strides[p]);
    }
  } else if (node.op == "Reshape" || node.op == "Flatten" || node.op == "Squeeze" || node.op == "Unsqueeze" ||
             node.op == "Identity") {
    out = reshape_view(in, out_shape);
  } else if (node.op == "Slice") {
    out = slice_view(g, node, in);
  }
  // The graph's static shape is the contract: a view that disagrees with it is not used.
  if (!out || out->shape != out_shape) return std::nullopt;
  return out;
}

}  // namespace qvit
