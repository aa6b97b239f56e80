#include "intgraph/lower.h"

#include <fmt/format.h>

#include "intgraph/lowerer.h"

namespace qvit {

const char* nonlinear_family_name(NonlinearFamily f) {
  switch (f) {
    case NonlinearFamily::Shift: return "shift";
    case NonlinearFamily::Poly: return "poly";
    case NonlinearFamily::Int32Safe: return "int32safe";
  }
  return "?";
}

NonlinearFamily nonlinear_family_from_name(const std::string& name) {
  if (name == "shift") return NonlinearFamily::Shift;
  if (name == "poly") return NonlinearFamily::Poly;
  if (name == "int32safe") return NonlinearFamily::Int32Safe;
  throw Error("unknown nonlinear family '" + name + "' (shift, poly, int32safe)");
}

namespace lowering {

Lowerer::Lowerer(const Graph& g, const CalibrationResult& calib, const LoweringOptions& opt) : f_(g), calib_(calib), opt_(opt) {
  check_calibration_against_graph(g, calib);
  for (const auto& a : calib.activations) points_[g.find_value(a.value)] = &a;
  for (const auto& w : calib.weights) weights_[w.node] = &w;
  vmap_.assign(g.values.size(), -1);
  consumers_.resize(g.values.size());
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (int in : g.nodes[n].inputs)
      if (in >= 0) consumers_[in].push_back(static_cast<int>(n));
}

LoweredModel Lowerer::run() {
  out_.family = opt_.family;
  out_.graph.source = f_.source;
  out_.graph.opset = f_.opset;
  if (f_.inputs.size() != 1) throw Error(f_.source + ": integer lowering supports models with one input");
  const int fin = f_.inputs[0];
  // The input's own point, or the first one its data reaches through movement (a patchify).
  const std::optional<QuantParams> in_point =
      points_.count(fin) ? std::optional<QuantParams>(points_.at(fin)->params) : point_ahead(fin);
  if (!in_point) throw Error(f_.source + ": the calibration does not quantize the model input");
  // The runtime quantizes the image with quantize() − zero_point: a uniform grid only.
  if (in_point->scheme == QuantScheme::LogSqrt2)
    throw Error(f_.source + ": the calibration quantizes the model input with a log-sqrt2 grid; an integer model input needs a uniform one");
  const QuantParams ip = *in_point;
  out_.input = ip;
  const int in = new_value(f_.value(fin).name, f_.value(fin).shape);
  out_.graph.inputs.push_back(in);
  set(fin, in, grid_meta(ip));
  for (size_t n = 0; n < f_.nodes.size(); ++n) {
    const Node& node = f_.nodes[n];
    try {
      lower_node(node);
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.find(node.describe()) != std::string::npos) throw;
      throw Error(f_.source + ": " + node.describe() + ": integer lowering: " + what);
    }
    for (int o : node.outputs)
      if (o >= 0 && points_.count(o) && vmap_[o] >= 0) apply_point(o, node);
  }
  for (int o : f_.outputs) {
    if (vmap_[o] < 0) throw Error(f_.source + ": output '" + f_.value(o).name + "' was not lowered");
    const Meta om = meta_[vmap_[o]];
    out_.graph.outputs.push_back(vmap_[o]);
    LoweredModel::OutputScale s;
    if (om.per_channel) {
      s.scales = om.scales;
      s.axis = om.axis;
    } else {
      s.scales = {om.scale};
    }
    out_.outputs.push_back(s);
  }
  out_.graph.rebuild_index();
  return std::move(out_);
}

// Shapes are taken by value: callers pass shapes of values in the graph being grown.
int Lowerer::new_value(const std::string& name, Shape shape, DType dt) {
  Value v;
  v.name = name;
  v.shape = shape;
  v.dtype = dt;
  const int id = ig().add_value(std::move(v));
  if (static_cast<size_t>(id) >= meta_.size()) meta_.resize(static_cast<size_t>(id) + 1);
  return id;
}

int Lowerer::constant(const std::string& name, Tensor t) {
  const int id = ig().add_constant(name, std::move(t));
  if (static_cast<size_t>(id) >= meta_.size()) meta_.resize(static_cast<size_t>(id) + 1);
  return id;
}

void Lowerer::set(int fid, int iid, const Meta& m) {
  vmap_[fid] = iid;
  meta_[iid] = m;
}

int Lowerer::emit(const std::string& op, const std::string& name, std::vector<int> inputs, Shape out_shape,
         std::map<std::string, AttrValue> attrs) {
  Node n;
  n.op = op;
  n.name = name;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  // What the exporter, the loader and the kernels will check: refused here, naming the layer.
  check_int_node_attributes(n);
  const int out = new_value(name + ":out", out_shape);
  n.outputs = {out};
  ig().nodes.push_back(std::move(n));
  return out;
}

void Lowerer::bound_record(const std::string& node, const std::string& kernel, const kernels::KernelBound& b) {
  const bool fits = kernels::fits_int32(b);
  out_.bounds.push_back({node, kernel, b.stage, b.worst_abs, fits});
  if (!fits && opt_.family == NonlinearFamily::Int32Safe)
    throw Error(fmt::format("int32 range proof failed for {} ({} can reach {:.0f} > 2^31 - 1)", kernel, b.stage,
                            b.worst_abs));
}

int Lowerer::in(const Node& node, size_t i) const {
  const int fid = node.inputs.at(i);
  if (fid < 0 || vmap_[fid] < 0) throw Error("input " + std::to_string(i) + " is not an integer tensor");
  return vmap_[fid];
}

// Requantizes int value `iv` onto grid `p` (scale p.scale, clamp range of p).
int Lowerer::requantize_to(int iv, const QuantParams& p, const std::string& name) {
  const Meta m = meta_[iv];  // a copy: emitting nodes grows meta_
  const ref::ClampRange r = grid_range(p);
  std::vector<Requant> rq;
  int axis = -1;
  if (m.per_channel) {
    for (double s : m.scales) rq.push_back(kernels::make_requant(s / p.scale, m.bound()));
    axis = m.axis;
  } else {
    rq.push_back(kernels::make_requant(m.scale / p.scale, m.bound()));
  }
  for (const auto& q : rq) bound_record(name, "requantize", kernels::requant_bound(q, m.bound()));
  const int out = emit("QRequantize", name, {iv, constant(name + ".rq", rq_tensor(rq))}, ig().value(iv).shape,
                       {{"axis", int64_t{axis}}, {"lo", int64_t{r.lo}}, {"hi", int64_t{r.hi}}});
  Meta g;
  g.grid = true;
  g.point = p;
  g.scale = p.scale;
  g.lo = r.lo;
  g.hi = r.hi;
  meta_[out] = g;
  return out;
}

void Lowerer::apply_point(int fid, const Node& producer) {
  const QuantParams& p = points_.at(fid)->params;
  const int iv = vmap_[fid];
  const Meta m = meta_[iv];  // a copy: emitting nodes grows meta_
  if (p.scheme == QuantScheme::LogSqrt2) {
    if (!(m.grid && same_grid(m.point, p)))
      throw Error(producer.describe() + ": a log-sqrt2 quantization point is only supported on a Softmax output");
    return;
  }
  if (m.grid && same_grid(m.point, p)) return;
  vmap_[fid] = requantize_to(iv, p, producer.name + ".quant");
}

// The grid a per-channel accumulator should be put on before data movement that cannot carry its
// channel scales: the next quantization point through single-reader movement and scalar Mul/Div
// (the point's scale times those factors), or none.
std::optional<QuantParams> Lowerer::point_ahead(int fid) const {
  double factor = 1.0;
  for (int guard = 0; guard < 64; ++guard) {
    if (auto it = points_.find(fid); it != points_.end()) {
      if (it->second->params.scheme == QuantScheme::LogSqrt2) return std::nullopt;
      QuantParams p = it->second->params;
      p.scale = static_cast<float>(p.scale * factor);
      return p;
    }
    if (consumers_[fid].size() != 1 || std::find(f_.outputs.begin(), f_.outputs.end(), fid) != f_.outputs.end())
      return std::nullopt;
    const Node& c = f_.nodes[consumers_[fid][0]];
    if (c.outputs.size() != 1) return std::nullopt;
    if (is_int_data_movement_op(c.op) && c.inputs[0] == fid) {
      fid = c.outputs[0];
    } else if (auto s = scalar_factor(c, fid)) {
      factor /= *s;  // y = x·s: a grid step of δ on y is δ/s on x
      fid = c.outputs[0];
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// y = x·factor for Mul/Div of `fid` by a positive scalar constant.
std::optional<double> Lowerer::scalar_factor(const Node& c, int fid) const {
  if ((c.op != "Mul" && c.op != "Div") || c.inputs.size() != 2) return std::nullopt;
  const int other = c.inputs[0] == fid ? c.inputs[1] : c.inputs[0];
  if (!f_.is_constant(other) || f_.constant(other).numel() != 1) return std::nullopt;
  if (c.op == "Div" && c.inputs[1] != other) return std::nullopt;
  const double v = f_.constant(other).cast(DType::Float64).data<double>()[0];
  if (!(v > 0) || !std::isfinite(v)) return std::nullopt;
  return c.op == "Div" ? 1.0 / v : v;
}

// A per-tensor version of int value `iv` (float value `fid`): requantized to the point ahead, or
// to a wide grid at the largest channel scale (every channel keeps at least its own precision
// relative to the coarsest one; magnitudes do not grow).
int Lowerer::settle(int fid, int iv, const std::string& name) {
  const Meta m = meta_[iv];  // a copy: emitting nodes grows meta_
  if (!m.per_channel) return iv;
  if (auto p = point_ahead(fid)) return requantize_to(iv, *p, name);
  const double top = *std::max_element(m.scales.begin(), m.scales.end());
  std::vector<Requant> rq;
  for (double s : m.scales) rq.push_back(kernels::make_requant(s / top, m.bound()));
  const int out = emit("QRequantize", name, {iv, constant(name + ".rq", rq_tensor(rq))}, ig().value(iv).shape,
                       {{"axis", int64_t{m.axis}}, {"lo", int64_t{-m.bound()}}, {"hi", int64_t{m.bound()}}});
  Meta w;
  w.scale = top;
  w.lo = -m.bound();
  w.hi = m.bound();
  meta_[out] = w;
  return out;
}

int Lowerer::per_tensor_input(const Node& node, size_t i) {
  return settle(node.inputs[i], in(node, i), node.name + ".in" + std::to_string(i) + ".settle");
}

void Lowerer::lower_node(const Node& node) {
  const std::string& op = node.op;
  if (op == "Linear" || op == "Conv") return lower_linear(node);
  if (op == "MatMul") return lower_matmul(node);
  if (op == "Softmax") return lower_softmax(node);
  if (op == "Gelu") return lower_gelu(node);
  if (op == "LayerNorm") return lower_layernorm(node);
  if (op == "Add") return lower_add(node);
  if (op == "Mul" || op == "Div") return lower_scale(node);
  if (op == "Sub") return lower_sub(node);
  if (op == "GlobalAveragePool" || op == "ReduceMean") return lower_mean(node);
  if (op == "Relu") return lower_relu(node);
  if (op == "MaxPool") return lower_max_pool(node);
  if (is_int_data_movement_op(op)) return lower_movement(node);
  throw Error("op " + op + " has no integer lowering");
}

Meta Lowerer::grid_meta(const QuantParams& p) const {
  Meta g;
  g.grid = true;
  g.point = p;
  g.scale = p.scale;
  g.lo = grid_range(p).lo;
  g.hi = grid_range(p).hi;
  return g;
}

}  // namespace lowering

LoweredModel lower_to_integer(const Graph& g, const CalibrationResult& calib, const LoweringOptions& options) {
  return lowering::Lowerer(g, calib, options).run();
}

}  // namespace qvit
