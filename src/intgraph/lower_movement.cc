// Integer lowering: Data movement (Reshape, Transpose, Slice, Concat, Gather, Pad, ...): metas carried, Concat onto one grid.
#include <fmt/format.h>

#include "intgraph/lowerer.h"

namespace qvit::lowering {

// Where the channel axis of a per-channel value goes through data movement, or -1 if it does not
// survive as one axis of the same size.
int Lowerer::carried_axis(const Node& node, int data, const Meta& m) const {
  const Shape& is = f_.value(data).shape;
  const Shape& os = f_.value(node.outputs[0]).shape;
  const int64_t ch = is[m.axis];
  int64_t after = 1;
  for (size_t a = static_cast<size_t>(m.axis) + 1; a < is.size(); ++a) after *= is[a];
  const std::string& op = node.op;
  if (op == "Transpose") {
    std::vector<int64_t> perm = node.attr_ints("perm");
    if (perm.empty())
      for (int i = static_cast<int>(is.size()) - 1; i >= 0; --i) perm.push_back(i);
    for (size_t i = 0; i < perm.size(); ++i)
      if (perm[i] == m.axis) return static_cast<int>(i);
    return -1;
  }
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity") {
    // Same size and the same number of elements after it: the axis is intact.
    int64_t tail = 1;
    for (int a = static_cast<int>(os.size()) - 1; a >= 0; --a) {
      if (os[a] == ch && tail == after) return a;
      tail *= os[a];
    }
    return -1;
  }
  if (op == "Gather") {
    const int axis = static_cast<int>(node.attr_int("axis", 0) < 0 ? node.attr_int("axis", 0) + is.size() : node.attr_int("axis", 0));
    if (axis == m.axis) return -1;
    const int idx_rank = f_.value(node.inputs[1]).shape.size();
    return axis < m.axis ? m.axis - 1 + idx_rank : m.axis;
  }
  if (op == "Slice" || op == "Pad" || op == "Concat" || op == "Split")
    return os.size() == is.size() ? m.axis : -1;  // channel subsets are handled by the caller
  return -1;
}

// Concat of data on different grids (tokens from different branches): the common grid each
// input is requantized onto — the Concat output's point, else the point ahead, else the
// coarsest input grid (no input loses range). None when the inputs already share one scale.
std::optional<QuantParams> Lowerer::concat_grid(const Node& node) {
  std::vector<Meta> metas;
  for (int fid : node.inputs)
    if (fid >= 0 && !f_.is_constant(fid) && vmap_[fid] >= 0) metas.push_back(meta_[vmap_[fid]]);
  bool same = true;
  for (const Meta& o : metas)
    same = same && o.per_channel == metas[0].per_channel &&
           (o.per_channel ? o.scales == metas[0].scales : std::abs(o.scale - metas[0].scale) <= 1e-6 * metas[0].scale);
  if (same) return std::nullopt;
  if (auto it = points_.find(node.outputs.at(0)); it != points_.end() && it->second->params.scheme != QuantScheme::LogSqrt2)
    return it->second->params;
  if (auto p = point_ahead(node.outputs.at(0))) return p;
  const Meta* widest = nullptr;
  for (const Meta& o : metas)
    if (o.grid && o.point.scheme != QuantScheme::LogSqrt2 && (!widest || o.scale > widest->scale)) widest = &o;
  if (!widest) throw Error("Concat of tensors at different scales, none of them on a quantization grid");
  return widest->point;
}

void Lowerer::lower_movement(const Node& node) {
  // The first non-constant input is the data (Concat may start with a constant class token).
  size_t di = 0;
  while (di < node.inputs.size() && (node.inputs[di] < 0 || f_.is_constant(node.inputs[di]))) ++di;
  if (di == node.inputs.size()) throw Error("data movement of constants should have been folded");
  const int data = node.inputs[di];
  // Per-channel values: keep them per-channel when the channel axis survives whole; else settle.
  Meta m0 = meta_[in(node, di)];
  std::vector<double> out_scales;
  int out_axis = -1;
  bool channel_slice = false;
  if (m0.per_channel) {
    out_axis = carried_axis(node, data, m0);
    const Shape& is = f_.value(data).shape;
    if (out_axis >= 0 && (node.op == "Slice" || node.op == "Split" || node.op == "Pad")) {
      // Slicing the channel axis itself: only Slice with step 1 keeps a contiguous scale subset.
      for (size_t o = 0; o < node.outputs.size(); ++o)
        if (f_.value(node.outputs[o]).shape[out_axis] != is[m0.axis]) channel_slice = true;
      if (channel_slice) out_axis = -1;
    }
    if (node.op == "Concat") {
      const int64_t axis = node.attr_int("axis") < 0 ? node.attr_int("axis") + is.size() : node.attr_int("axis");
      if (axis == m0.axis) out_axis = -1;
    }
  }
  const std::optional<QuantParams> common = node.op == "Concat" ? concat_grid(node) : std::nullopt;
  if (common) {
    m0 = grid_meta(*common);
    out_axis = -1;
  }
  std::vector<int> inputs;
  std::vector<Meta> metas;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const int fid = node.inputs[i];
    if (fid < 0) {
      inputs.push_back(-1);
      continue;
    }
    if (f_.is_constant(fid)) {
      const Tensor& c = f_.constant(fid);
      if (c.dtype() == DType::Float32 && node.op == "Concat" && i != di) {
        int32_t cmax = 0;
        Meta ref_meta = m0;
        if (ref_meta.per_channel && out_axis < 0) throw Error("cannot concatenate a constant with per-channel values here");
        Tensor q = constant_at(c, ref_meta, c.shape(), 0, cmax);
        inputs.push_back(constant(f_.value(fid).name + ".q", std::move(q)));
        Meta cm = ref_meta;
        cm.lo = -cmax;
        cm.hi = cmax;
        metas.push_back(cm);
      } else if (c.dtype() == DType::Float32 && node.op == "Pad") {
        if (c.numel() != 1 || c.data<float>()[0] != 0.0f) throw Error("Pad with a nonzero value");
        inputs.push_back(constant(f_.value(fid).name + ".q", Tensor(DType::Int32, c.shape())));
      } else {
        inputs.push_back(constant(f_.value(fid).name, c));
      }
      continue;
    }
    int iv = vmap_[fid];
    if (iv < 0) throw Error("input " + std::to_string(i) + " is not an integer tensor");
    if (common && !(meta_[iv].grid && same_grid(meta_[iv].point, *common)))
      iv = requantize_to(iv, *common, node.name + ".in" + std::to_string(i) + ".requant");
    if (meta_[iv].per_channel && out_axis < 0) iv = settle(fid, iv, node.name + ".in" + std::to_string(i) + ".settle");
    inputs.push_back(iv);
    metas.push_back(meta_[iv]);
  }
  // Concat of differently scaled data was put on one grid above.
  Meta m = metas.at(0);
  for (const Meta& o : metas) {
    const bool same = o.per_channel == m.per_channel &&
                      (m.per_channel ? o.scales == m.scales : std::abs(o.scale - m.scale) <= 1e-6 * m.scale);
    if (!same) throw Error(node.op + " of tensors at different scales");
    m.lo = std::min(m.lo, o.lo);
    m.hi = std::max(m.hi, o.hi);
  }
  if (m.per_channel) m.axis = out_axis;
  Node n;
  n.op = node.op;
  n.name = node.name;
  n.inputs = inputs;
  n.attrs = node.attrs;
  for (int o : node.outputs) {
    const int id = o >= 0 ? new_value(f_.value(o).name, f_.value(o).shape) : -1;
    n.outputs.push_back(id);
    if (o >= 0) {
      Meta mo = m;
      if (node.op == "Pad") mo.lo = std::min(mo.lo, 0), mo.hi = std::max(mo.hi, 0);
      set(o, id, mo);
    }
  }
  ig().nodes.push_back(std::move(n));
}

}  // namespace qvit::lowering
