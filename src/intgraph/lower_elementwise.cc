// Integer lowering: Add, Sub, Mul/Div by constants, ReLU, MaxPool and means.
#include <fmt/format.h>

#include "intgraph/lowerer.h"

namespace qvit::lowering {

// A float constant added to (or concatenated with) an integer value: quantized to that value's
// scale(s), broadcast to the trailing shape `shape` it must have.
Tensor Lowerer::constant_at(const Tensor& c, const Meta& m, const Shape& full, size_t skip_leading, int32_t& cmax) {
  const Shape shape(full.begin() + static_cast<long>(skip_leading), full.end());
  Tensor cf = c.cast(DType::Float64);
  const int r = static_cast<int>(shape.size());
  // Leading size-1 axes of the constant are the repeats the kernel does by itself.
  Shape cs = cf.shape();
  while (static_cast<int>(cs.size()) > r && cs.front() == 1) cs.erase(cs.begin());
  cf = std::move(cf).reshaped(cs);
  Tensor q(DType::Int32, shape);
  const std::vector<int64_t> st = strides_of(cf.shape());
  const int off = r - cf.rank();
  if (off < 0) throw Error("constant operand has more axes than the tensor it joins");
  cmax = 0;
  std::vector<int64_t> idx(r);
  for (int64_t i = 0; i < q.numel(); ++i) {
    int64_t rem = i, src = 0;
    for (int a = r - 1; a >= 0; --a) {
      idx[a] = rem % shape[a];
      rem /= shape[a];
    }
    for (int a = 0; a < cf.rank(); ++a) src += (cf.shape()[a] == 1 ? 0 : idx[a + off]) * st[a];
    const double s = m.per_channel ? m.scales[static_cast<size_t>(idx[m.axis - static_cast<int>(skip_leading)])] : m.scale;
    const double v = std::round(cf.data<double>()[src] / s);
    if (!(std::abs(v) <= double(1 << 30))) throw Error("constant does not fit int32 at the tensor's scale");  // NaN fails too
    q.data<int32_t>()[i] = static_cast<int32_t>(v);
    cmax = std::max(cmax, std::abs(q.data<int32_t>()[i]));
  }
  return q;
}

void Lowerer::lower_add(const Node& node) {
  const bool c0 = f_.is_constant(node.inputs[0]), c1 = f_.is_constant(node.inputs[1]);
  if (c0 && c1) throw Error("adds two constants");
  if (c0 || c1) {
    const size_t di = c0 ? 1 : 0;
    return add_constant(node, in(node, di), f_.constant(node.inputs[1 - di]));
  }
  add_tensors(node, per_tensor_input(node, 0), per_tensor_input(node, 1));
}

// Sub: x − c is x + (−c); c − x and a − b negate the subtrahend first (QMulConst by −1).
void Lowerer::lower_sub(const Node& node) {
  const bool c0 = f_.is_constant(node.inputs[0]), c1 = f_.is_constant(node.inputs[1]);
  if (c0 && c1) throw Error("subtracts two constants");
  if (c1) {
    const Tensor c = f_.constant(node.inputs[1]).cast(DType::Float64);
    Tensor neg(DType::Float64, c.shape());
    for (int64_t i = 0; i < c.numel(); ++i) neg.data<double>()[i] = -c.data<double>()[i];
    return add_constant(node, in(node, 0), neg);
  }
  const int b = negated(per_tensor_input(node, 1), node.name + ".neg");
  if (c0) return add_constant(node, b, f_.constant(node.inputs[0]));
  add_tensors(node, per_tensor_input(node, 0), b);
}

// −x: the same scale, integers negated (a grid's clamp range mirrored).
int Lowerer::negated(int x, const std::string& name) {
  Meta m = meta_[x];
  Tensor minus_one(DType::Int32, {1});
  minus_one.data<int32_t>()[0] = -1;
  const int y = emit("QMulConst", name, {x, constant(name + ".c", std::move(minus_one))}, ig().value(x).shape);
  const int32_t lo = m.lo, hi = m.hi;
  m.lo = hi == INT32_MAX ? -INT32_MAX : -hi;
  m.hi = lo == INT32_MIN ? INT32_MAX : -lo;
  m.grid = false;
  meta_[y] = m;
  return y;
}

void Lowerer::add_constant(const Node& node, int d, const Tensor& c) {
  const Shape& os = f_.value(node.outputs[0]).shape;
  {
    const Meta md = meta_[d];
    if (ig().value(d).shape != os) throw Error("constant operand broadcasts the data operand");
    // The constant repeats over the leading axes where it has size 1 (batch).
    size_t lead = 0;
    const int coff = static_cast<int>(os.size()) - c.rank();
    while (lead < os.size() && (static_cast<int>(lead) < coff || c.shape()[lead - coff] == 1) &&
           lead + 1 < os.size())
      ++lead;
    if (md.per_channel && md.axis < static_cast<int>(lead)) lead = static_cast<size_t>(md.axis);
    int32_t cmax = 0;
    Tensor cq = constant_at(c, md, os, lead, cmax);
    const Requant one{0, 1, 0};
    const int32_t bound = clamp_to_i32(double(md.bound()) + cmax);
    const int y = emit("QAdd", node.name, {d, constant(node.name + ".const_q", std::move(cq)), constant(node.name + ".rq", rq_tensor({one, one}))},
                       os, {{"shift", int64_t{0}}, {"lo", int64_t{-bound}}, {"hi", int64_t{bound}}});
    Meta m = md;
    m.grid = false;
    m.lo = -bound;
    m.hi = bound;
    set(node.outputs[0], y, m);
  }
}

void Lowerer::add_tensors(const Node& node, int a, int b) {
  const Shape& os = f_.value(node.outputs[0]).shape;
  const Meta ma = meta_[a], mb = meta_[b];
  if (ig().value(a).shape != os) throw Error("integer Add needs the first operand at the output shape");
  QuantParams target;
  bool on_grid = false;
  if (auto it = points_.find(node.outputs[0]); it != points_.end() && it->second->params.scheme != QuantScheme::LogSqrt2) {
    target = it->second->params;
    on_grid = true;
  } else {
    target.scheme = QuantScheme::Symmetric;
    target.bits = 31;
    target.scale = static_cast<float>(std::min(ma.scale, mb.scale));
  }
  const ref::ClampRange range = on_grid ? grid_range(target) : ref::ClampRange{};
  // Extra fraction bits for the one rounding of the sum, as many as keep both operands in int32.
  ref::AddParams p;
  for (int shift = 8; shift >= 0; --shift) {
    try {
      p.a = kernels::make_requant(ma.scale / target.scale * std::ldexp(1.0, shift), ma.bound());
      p.b = kernels::make_requant(mb.scale / target.scale * std::ldexp(1.0, shift), mb.bound());
      p.shift = shift;
      if (kernels::fits_int32(kernels::add_bound(p, ma.bound(), mb.bound()))) break;
    } catch (const Error&) {
      if (shift == 0) throw;
    }
  }
  p.range = range;
  bound_record(node.name, "add", kernels::add_bound(p, ma.bound(), mb.bound()));
  const int y = emit("QAdd", node.name, {a, b, constant(node.name + ".rq", rq_tensor({p.a, p.b}))}, os,
                     {{"shift", int64_t{p.shift}}, {"lo", int64_t{range.lo}}, {"hi", int64_t{range.hi}}});
  Meta m;
  m.scale = target.scale;
  m.grid = on_grid;
  m.point = target;
  m.lo = on_grid ? range.lo : -clamp_to_i32(double(ma.bound()) * ma.scale / target.scale + double(mb.bound()) * mb.scale / target.scale + 1);
  m.hi = on_grid ? range.hi : -m.lo;
  set(node.outputs[0], y, m);
}

void Lowerer::lower_scale(const Node& node) {
  const int data = f_.is_constant(node.inputs[0]) ? 1 : 0;
  if (!f_.is_constant(node.inputs[1 - data])) throw Error(node.op + " of two tensors has no integer lowering");
  if (node.op == "Div" && data == 1) throw Error("Div of a constant by a tensor has no integer lowering");
  auto s = scalar_factor(node, node.inputs[data]);
  if (!s) return scale_per_channel(node, data);
  const int x = in(node, data);
  Meta m = meta_[x];
  m.scale *= *s;
  for (double& c : m.scales) c *= *s;
  if (m.grid) m.point.scale = static_cast<float>(m.point.scale * *s);
  // The integers are unchanged: an Identity keeps the value names of the float graph.
  const int y = emit("Identity", node.name, {x}, f_.value(node.outputs[0]).shape);
  set(node.outputs[0], y, m);
}

// ReLU on integers is max(v, 0): the real zero is the centered code 0 on a grid and 0 in an
// accumulator, and every scale is positive. It is fused as a raised lower clamp into the
// requantization next to it: the one onto the ReLU output's point (requantize and ReLU commute),
// or the one that just produced the input when nothing else reads it; else a QClamp.
void Lowerer::lower_relu(const Node& node) {
  const int fin = node.inputs.at(0), fo = node.outputs.at(0);
  int x = in(node, 0);
  auto pt = points_.find(fo);
  const bool to_point = pt != points_.end() && pt->second->params.scheme != QuantScheme::LogSqrt2 &&
                        !(meta_[x].grid && same_grid(meta_[x].point, pt->second->params));
  if (to_point) x = requantize_to(x, pt->second->params, node.name + ".quant");
  const bool sole_reader = consumers_[fin].size() == 1 &&
                           std::find(f_.outputs.begin(), f_.outputs.end(), fin) == f_.outputs.end();
  Node* last = ig().nodes.empty() ? nullptr : &ig().nodes.back();
  if (last && last->op == "QRequantize" && last->outputs.at(0) == x && (to_point || sole_reader)) {
    last->attrs["lo"] = std::max<int64_t>(std::get<int64_t>(last->attrs.at("lo")), 0);
    Meta m = meta_[x];
    m.lo = std::max(m.lo, 0);
    set(fo, x, m);
    return;
  }
  Meta m = meta_[x];
  const int y = emit("QClamp", node.name, {x}, ig().value(x).shape, {{"lo", int64_t{0}}, {"hi", int64_t{INT32_MAX}}});
  m.lo = std::max(m.lo, 0);
  m.hi = std::max(m.hi, 0);
  set(fo, y, m);
}

// MaxPool on codes: the maximum of codes is the code of the maximum, so the grid (or the
// per-channel accumulator scales along the channel axis 1) is unchanged.
void Lowerer::lower_max_pool(const Node& node) {
  const int fin = node.inputs.at(0);
  int x = in(node, 0);
  if (meta_[x].per_channel && meta_[x].axis != 1) x = settle(fin, x, node.name + ".in0.settle");
  const Meta m = meta_[x];
  std::map<std::string, AttrValue> attrs;
  for (const char* a : {"kernel_shape", "strides", "pads", "dilations", "ceil_mode", "auto_pad"})
    if (node.has_attr(a)) attrs[a] = node.attrs.at(a);
  const int y = emit("QMaxPool", node.name, {x}, f_.value(node.outputs.at(0)).shape, attrs);
  set(node.outputs[0], y, m);
}

// Mul/Div by a constant that varies along one axis only (LayerScale γ, per-channel scales):
// a per-channel change of scale, |f| folded into the channel scales and the sign applied to the
// integers (QMulConst by ±1, 0 for a zero factor).
void Lowerer::scale_per_channel(const Node& node, int data) {
  const Tensor c = f_.constant(node.inputs[1 - data]).cast(DType::Float64);
  const Shape& os = f_.value(node.outputs[0]).shape;
  const int r = static_cast<int>(os.size());
  if (c.rank() > r) throw Error(node.op + " by a constant of higher rank than the data");
  int axis = -1;
  for (int a = 0; a < c.rank(); ++a)
    if (c.shape()[a] != 1) {
      if (axis >= 0) throw Error(node.op + " by a constant that varies along more than one axis has no integer lowering");
      axis = a + r - c.rank();
    }
  if (axis < 0) throw Error(node.op + " by a scalar constant that is not positive has no integer lowering");
  int x = in(node, data);
  if (ig().value(x).shape != os) throw Error("the constant broadcasts the data operand");
  if (meta_[x].per_channel && meta_[x].axis != axis) x = per_tensor_input(node, static_cast<size_t>(data));
  Meta m = meta_[x];
  const int64_t channels = os[static_cast<size_t>(axis)];
  std::vector<double> scales(static_cast<size_t>(channels));
  Tensor sign(DType::Int32, Shape(os.begin() + axis, os.end()));
  int64_t inner = 1;
  for (int a = axis + 1; a < r; ++a) inner *= os[static_cast<size_t>(a)];
  bool all_positive = true;
  for (int64_t k = 0; k < channels; ++k) {
    const double v = c.data<double>()[k];
    const double f = node.op == "Div" ? 1.0 / v : v;
    if (!std::isfinite(f)) throw Error(node.op + " by a constant with a zero or non-finite entry");
    const double base = m.per_channel ? m.scales[static_cast<size_t>(k)] : m.scale;
    scales[static_cast<size_t>(k)] = f == 0 ? base : base * std::abs(f);
    const int32_t sg = f > 0 ? 1 : (f < 0 ? -1 : 0);
    all_positive = all_positive && sg == 1;
    for (int64_t i = 0; i < inner; ++i) sign.data<int32_t>()[k * inner + i] = sg;
  }
  int y;
  if (all_positive) {
    y = emit("Identity", node.name, {x}, os);
  } else {
    y = emit("QMulConst", node.name, {x, constant(node.name + ".sign", std::move(sign))}, os);
    m.lo = -m.bound();
    m.hi = m.bound();
  }
  m.per_channel = true;
  m.scales = std::move(scales);
  m.axis = axis;
  m.grid = false;
  set(node.outputs[0], y, m);
}

void Lowerer::lower_mean(const Node& node) {
  const int x = in(node, 0);
  Meta m = meta_[x];
  const int r = static_cast<int>(ig().value(x).shape.size());
  std::vector<int64_t> axes;
  int64_t keep = 1;
  if (node.op == "GlobalAveragePool") {
    for (int a = 2; a < r; ++a) axes.push_back(a);
  } else {
    axes = node.attr_ints("axes");
    if (node.inputs.size() > 1 && node.inputs[1] >= 0) axes = f_.constant(node.inputs[1]).as_int64s();
    keep = node.attr_int("keepdims", 1);
  }
  for (int64_t& a : axes) a = a < 0 ? a + r : a;
  if (m.per_channel && std::find(axes.begin(), axes.end(), m.axis) != axes.end())
    throw Error("mean over the channel axis of per-channel accumulators");
  if (m.per_channel && !keep) {
    int removed = 0;
    for (int64_t a : axes) removed += a < m.axis ? 1 : 0;
    m.axis -= removed;
  }
  m.grid = false;  // a rounded mean is between grid points only by rounding: keep the scale, not the grid
  const int y = emit("QMean", node.name, {x}, f_.value(node.outputs[0]).shape, {{"axes", axes}, {"keepdims", keep}});
  set(node.outputs[0], y, m);
}

}  // namespace qvit::lowering
