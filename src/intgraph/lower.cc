#include "intgraph/lower.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "intgraph/int_ops.h"
#include "kernels/dyadic.h"
#include "kernels/kernel_bounds.h"
#include "kernels/kernel_params.h"

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

namespace {

using kernels::Requant;
namespace ref = kernels::ref;

// Probabilities leave Shiftmax / the I-BERT softmax with this many bits (scale 2^-(b-1)) before
// they are requantized to the calibrated softmax grid.
constexpr int32_t kProbBits = 16;
// ShiftGELU's sigmoid precision (scale 2^-(b-1)).
constexpr int32_t kSigmoidBits = 16;

// What one unit of an integer value means (lowering-time only).
struct Meta {
  bool per_channel = false;
  double scale = 1.0;          // per tensor
  std::vector<double> scales;  // per channel, along `axis`
  int axis = -1;
  int32_t lo = INT32_MIN, hi = INT32_MAX;  // bounds of the values (a grid's clamp range)
  bool grid = false;           // on an activation quantization grid (`point`, scale = point.scale)
  QuantParams point;
  int32_t bound() const { return std::max(lo == INT32_MIN ? INT32_MAX : -lo, hi); }
};

int32_t clamp_to_i32(double v) {
  return static_cast<int32_t>(std::clamp(v, double(INT32_MIN) + 1, double(INT32_MAX)));
}

ref::ClampRange grid_range(const QuantParams& p) {
  if (p.scheme == QuantScheme::Symmetric) return {p.qmin(), p.qmax()};
  return {p.qmin() - p.zero_point, p.qmax() - p.zero_point};
}

bool same_grid(const QuantParams& a, const QuantParams& b) {
  return a.scheme == b.scheme && a.bits == b.bits && a.zero_point == b.zero_point &&
         std::abs(double(a.scale) - double(b.scale)) <= 1e-6 * std::abs(double(b.scale));
}

Tensor rq_tensor(const std::vector<Requant>& rq) {
  Tensor t(DType::Int32, {static_cast<int64_t>(rq.size()), 3});
  for (size_t i = 0; i < rq.size(); ++i) {
    t.data<int32_t>()[3 * i] = rq[i].pre_shift;
    t.data<int32_t>()[3 * i + 1] = rq[i].m0;
    t.data<int32_t>()[3 * i + 2] = rq[i].post_shift;
  }
  return t;
}

class Lowerer {
 public:
  Lowerer(const Graph& g, const CalibrationResult& calib, const LoweringOptions& opt) : f_(g), calib_(calib), opt_(opt) {
    for (const auto& a : calib.activations) {
      const int id = g.find_value(a.value);
      if (id < 0) throw Error(g.source + ": calibration quantizes tensor '" + a.value + "', which this model does not have");
      points_[id] = &a;
    }
    for (const auto& w : calib.weights) weights_[w.node] = &w;
    vmap_.assign(g.values.size(), -1);
    consumers_.resize(g.values.size());
    for (size_t n = 0; n < g.nodes.size(); ++n)
      for (int in : g.nodes[n].inputs)
        if (in >= 0) consumers_[in].push_back(static_cast<int>(n));
  }

  LoweredModel run() {
    out_.family = opt_.family;
    out_.graph.source = f_.source;
    out_.graph.opset = f_.opset;
    if (f_.inputs.size() != 1) throw Error(f_.source + ": integer lowering supports models with one input");
    const int fin = f_.inputs[0];
    // The input's own point, or the first one its data reaches through movement (a patchify).
    const std::optional<QuantParams> in_point =
        points_.count(fin) ? std::optional<QuantParams>(points_.at(fin)->params) : point_ahead(fin);
    if (!in_point) throw Error(f_.source + ": the calibration does not quantize the model input");
    const QuantParams ip = *in_point;
    out_.input = ip;
    const int in = new_value(f_.value(fin).name, f_.value(fin).shape);
    out_.graph.inputs.push_back(in);
    Meta m;
    m.grid = true;
    m.point = ip;
    m.scale = ip.scale;
    m.lo = grid_range(ip).lo;
    m.hi = grid_range(ip).hi;
    set(fin, in, m);
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

 private:
  const Graph& f_;
  const CalibrationResult& calib_;
  const LoweringOptions& opt_;
  std::map<int, const ActivationQuant*> points_;
  std::map<std::string, const WeightQuant*> weights_;
  std::vector<int> vmap_;  // float value → int value
  std::vector<std::vector<int>> consumers_;
  std::vector<Meta> meta_;  // by int value id
  LoweredModel out_;

  Graph& ig() { return out_.graph; }

  // Shapes are taken by value: callers pass shapes of values in the graph being grown.
  int new_value(const std::string& name, Shape shape, DType dt = DType::Int32) {
    Value v;
    v.name = name;
    v.shape = shape;
    v.dtype = dt;
    const int id = ig().add_value(std::move(v));
    if (static_cast<size_t>(id) >= meta_.size()) meta_.resize(static_cast<size_t>(id) + 1);
    return id;
  }
  int constant(const std::string& name, Tensor t) {
    const int id = ig().add_constant(name, std::move(t));
    if (static_cast<size_t>(id) >= meta_.size()) meta_.resize(static_cast<size_t>(id) + 1);
    return id;
  }
  void set(int fid, int iid, const Meta& m) {
    vmap_[fid] = iid;
    meta_[iid] = m;
  }
  int emit(const std::string& op, const std::string& name, std::vector<int> inputs, Shape out_shape,
           std::map<std::string, AttrValue> attrs = {}) {
    Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    const int out = new_value(name + ":out", out_shape);
    n.outputs = {out};
    ig().nodes.push_back(std::move(n));
    return out;
  }
  void bound_record(const std::string& node, const std::string& kernel, const kernels::KernelBound& b) {
    const bool fits = kernels::fits_int32(b);
    out_.bounds.push_back({node, kernel, b.stage, b.worst_abs, fits});
    if (!fits && opt_.family == NonlinearFamily::Int32Safe)
      throw Error(fmt::format("int32 range proof failed for {} ({} can reach {:.0f} > 2^31 - 1)", kernel, b.stage,
                              b.worst_abs));
  }

  int in(const Node& node, size_t i) const {
    const int fid = node.inputs.at(i);
    if (fid < 0 || vmap_[fid] < 0) throw Error("input " + std::to_string(i) + " is not an integer tensor");
    return vmap_[fid];
  }

  // ---- grids ----

  // Requantizes int value `iv` onto grid `p` (scale p.scale, clamp range of p).
  int requantize_to(int iv, const QuantParams& p, const std::string& name) {
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

  void apply_point(int fid, const Node& producer) {
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
  std::optional<QuantParams> point_ahead(int fid) const {
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
  std::optional<double> scalar_factor(const Node& c, int fid) const {
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
  int settle(int fid, int iv, const std::string& name) {
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

  int per_tensor_input(const Node& node, size_t i) {
    return settle(node.inputs[i], in(node, i), node.name + ".in" + std::to_string(i) + ".settle");
  }

  // ---- ops ----

  void lower_node(const Node& node) {
    const std::string& op = node.op;
    if (op == "Linear" || op == "Conv") return lower_linear(node);
    if (op == "MatMul") return lower_matmul(node);
    if (op == "Softmax") return lower_softmax(node);
    if (op == "Gelu") return lower_gelu(node);
    if (op == "LayerNorm") return lower_layernorm(node);
    if (op == "Add") return lower_add(node);
    if (op == "Mul" || op == "Div") return lower_scale(node);
    if (op == "GlobalAveragePool" || op == "ReduceMean") return lower_mean(node);
    if (op == "Relu") return lower_relu(node);
    if (op == "MaxPool") return lower_max_pool(node);
    if (is_int_data_movement_op(op)) return lower_movement(node);
    throw Error("op " + op + " has no integer lowering");
  }

  Tensor quantize_weight(const Node& node, const Tensor& w, int axis, std::vector<double>& w_scales, int32_t& w_max) {
    auto it = weights_.find(node.name);
    if (it == weights_.end()) throw Error("the calibration has no weight quantizer for this layer");
    const ChannelQuantParams& cp = it->second->params;
    if (w.shape()[axis] != static_cast<int64_t>(cp.scale.size())) throw Error("weight channels differ from the calibration");
    Tensor q(DType::Int32, w.shape());
    int64_t inner = 1;
    for (int a = axis + 1; a < w.rank(); ++a) inner *= w.shape()[a];
    const int64_t channels = w.shape()[axis];
    const Tensor wf = w.cast(DType::Float32);
    w_max = 0;
    for (int64_t i = 0; i < w.numel(); ++i) {
      const QuantParams p = cp.channel(static_cast<size_t>((i / inner) % channels));
      const int32_t v = p.quantize(wf.data<float>()[i]) - p.zero_point;
      q.data<int32_t>()[i] = v;
      w_max = std::max(w_max, std::abs(v));
    }
    w_scales.assign(cp.scale.begin(), cp.scale.end());
    return q;
  }

  void lower_linear(const Node& node) {
    const bool conv = node.op == "Conv";
    if (node.inputs.size() < 2 || !f_.is_constant(node.inputs[1])) throw Error("weight must be a constant");
    const int x = in(node, 0);
    const Meta mx = meta_[x];
    if (mx.per_channel || !mx.grid) throw Error("input is not on a quantization grid (no calibration point)");
    const Tensor& wf = f_.constant(node.inputs[1]);
    std::vector<double> ws;
    int32_t w_max = 0;
    Tensor wq = quantize_weight(node, wf, conv ? 0 : 1, ws, w_max);
    const int64_t k = conv ? wf.numel() / wf.shape()[0] : wf.shape()[0];
    const int64_t n = conv ? wf.shape()[0] : wf.shape()[1];
    std::vector<double> acc_scales(static_cast<size_t>(n));
    for (int64_t c = 0; c < n; ++c) acc_scales[c] = double(mx.scale) * ws[c];
    std::vector<int> inputs = {x, constant(node.name + ".weight_q", std::move(wq))};
    int32_t bias_max = 0;
    if (node.inputs.size() > 2 && node.inputs[2] >= 0) {
      const Tensor b = f_.constant(node.inputs[2]).cast(DType::Float64);
      Tensor bq(DType::Int32, {n});
      for (int64_t c = 0; c < n; ++c) {
        const double v = std::round(b.data<double>()[c] / acc_scales[c]);
        if (std::abs(v) > double(1 << 30)) throw Error("bias does not fit int32 at the accumulator scale");
        bq.data<int32_t>()[c] = static_cast<int32_t>(v);
        bias_max = std::max(bias_max, std::abs(bq.data<int32_t>()[c]));
      }
      inputs.push_back(constant(node.name + ".bias_q", std::move(bq)));
    }
    const kernels::KernelBound b = kernels::matmul_bound(static_cast<int32_t>(k), mx.bound(), w_max, bias_max);
    bound_record(node.name, conv ? "conv" : "matmul", b);
    if (!kernels::fits_int32(b)) throw Error(fmt::format("int32 range proof failed: the accumulator can reach {:.0f}", b.worst_abs));
    std::map<std::string, AttrValue> attrs;
    if (conv)
      for (const char* a : {"strides", "pads", "dilations", "group"})
        if (node.has_attr(a)) attrs[a] = node.attrs.at(a);
    const int y = emit(conv ? "QConv" : "QMatMul", node.name, inputs, f_.value(node.outputs[0]).shape, attrs);
    Meta m;
    m.per_channel = true;
    m.scales = acc_scales;
    m.axis = conv ? 1 : static_cast<int>(f_.value(node.outputs[0]).shape.size()) - 1;
    m.lo = -clamp_to_i32(b.worst_abs);
    m.hi = clamp_to_i32(b.worst_abs);
    set(node.outputs[0], y, m);
  }

  void lower_matmul(const Node& node) {
    const int a = per_tensor_input(node, 0), b = per_tensor_input(node, 1);
    const Meta ma = meta_[a], mb = meta_[b];
    const int32_t k = static_cast<int32_t>(ig().value(a).shape.back());
    const Shape& os = f_.value(node.outputs[0]).shape;
    Meta m;
    if (ma.grid && ma.point.scheme == QuantScheme::LogSqrt2) {
      const ref::Log2MatmulParams p = kernels::make_log2_matmul_params(k, mb.bound(), ma.point.bits);
      bound_record(node.name, "log2_matmul", kernels::log2_matmul_bound(p, k, mb.bound()));
      const int y = emit("QLog2MatMul", node.name, {a, b}, os,
                         {{"frac_bits", int64_t{p.frac_bits}}, {"sqrt2", int64_t{p.sqrt2}}, {"code_bits", int64_t{p.code_bits}}});
      m.scale = double(ma.point.scale) * mb.scale * std::ldexp(1.0, -p.frac_bits);
      const double worst = kernels::log2_matmul_bound(p, k, mb.bound()).worst_abs;
      m.lo = -clamp_to_i32(worst);
      m.hi = clamp_to_i32(worst);
      set(node.outputs[0], y, m);
      return;
    }
    const kernels::KernelBound bd = kernels::matmul_bound(k, ma.bound(), mb.bound(), 0);
    bound_record(node.name, "matmul", bd);
    if (!kernels::fits_int32(bd)) throw Error(fmt::format("int32 range proof failed: the accumulator can reach {:.0f}", bd.worst_abs));
    const int y = emit("QMatMul", node.name, {a, b}, os);
    m.scale = ma.scale * mb.scale;
    m.lo = -clamp_to_i32(bd.worst_abs);
    m.hi = clamp_to_i32(bd.worst_abs);
    set(node.outputs[0], y, m);
  }

  // Probabilities P at scale 2^-frac (int32) onto the Softmax output's point.
  void emit_probabilities(const Node& node, int p_iv, int frac_bits) {
    const int fo = node.outputs[0];
    auto it = points_.find(fo);
    if (it == points_.end()) throw Error("Softmax output has no calibration point");
    const QuantParams& qp = it->second->params;
    const int32_t p_bound = int32_t{1} << frac_bits;
    Meta m;
    m.grid = true;
    m.point = qp;
    m.scale = qp.scale;
    if (qp.scheme == QuantScheme::LogSqrt2) {
      // p/s at the same fraction bits, then log-√2 codes relative to s (x̂ = s·2^(−q/2)).
      const Requant rq = kernels::make_requant(1.0 / qp.scale, p_bound);
      bound_record(node.name, "requantize", kernels::requant_bound(rq, p_bound));
      const int y = emit("QLog2Codes", node.name + ".log2", {p_iv, constant(node.name + ".log2.rq", rq_tensor({rq}))},
                         ig().value(p_iv).shape, {{"frac_bits", int64_t{frac_bits}}, {"code_bits", int64_t{qp.bits}}});
      m.lo = 0;
      m.hi = qp.qmax() + 1;
      set(fo, y, m);
      return;
    }
    Meta pm;
    pm.scale = std::ldexp(1.0, -frac_bits);
    pm.lo = 0;
    pm.hi = p_bound;
    meta_[p_iv] = pm;
    vmap_[fo] = requantize_to(p_iv, qp, node.name + ".quant");
  }

  // Swaps `axis` with the last axis (its own inverse), keeping the meta.
  int swap_to_last(int iv, int axis, const std::string& name) {
    const Shape is = ig().value(iv).shape;
    const int r = static_cast<int>(is.size());
    std::vector<int64_t> perm(static_cast<size_t>(r));
    for (int a = 0; a < r; ++a) perm[a] = a;
    std::swap(perm[axis], perm[r - 1]);
    Shape os = is;
    std::swap(os[axis], os[r - 1]);
    const Meta m = meta_[iv];
    const int y = emit("Transpose", name, {iv}, os, {{"perm", perm}});
    meta_[y] = m;
    return y;
  }

  void lower_softmax(const Node& node) {
    const int r = static_cast<int>(f_.value(node.inputs[0]).shape.size());
    const int axis = static_cast<int>(node.attr_int("axis", -1) < 0 ? node.attr_int("axis", -1) + r : node.attr_int("axis", -1));
    if (axis < 0 || axis >= r) throw Error("Softmax axis out of range");
    int x = per_tensor_input(node, 0);
    // The integer kernels run over the last axis: over another one (attention sequence pooling,
    // softmax over tokens), the tensor is transposed there and back.
    if (axis != r - 1) x = swap_to_last(x, axis, node.name + ".to_last");
    lower_softmax_last_axis(node, x);
    if (axis != r - 1) {
      const int fo = node.outputs[0];
      vmap_[fo] = swap_to_last(vmap_[fo], axis, node.name + ".from_last");
    }
  }

  void lower_softmax_last_axis(const Node& node, int x) {
    Meta mx = meta_[x];
    const int32_t cols = static_cast<int32_t>(ig().value(x).shape.back());
    const Shape os = ig().value(x).shape;
    switch (opt_.family) {
      case NonlinearFamily::Shift: {
        const ref::ShiftmaxParams p = kernels::make_shiftmax_params(mx.scale, 15, {ref::ProbFormat::kUniform, kProbBits});
        bound_record(node.name, "shiftmax", kernels::shiftmax_bound(p, cols, mx.bound()));
        const int y = emit("QShiftmax", node.name, {x}, os,
                           {{"i0", int64_t{p.exp.i0}}, {"n", int64_t{p.exp.n}}, {"out_bits", int64_t{kProbBits}}});
        return emit_probabilities(node, y, kProbBits - 1);
      }
      case NonlinearFamily::Poly: {
        const ref::IBertSoftmaxParams p = kernels::make_ibert_softmax_params(mx.scale, {ref::ProbFormat::kUniform, kProbBits});
        bound_record(node.name, "ibert_softmax", kernels::ibert_softmax_bound(p, cols, mx.bound()));
        const int y = emit("QIBertSoftmax", node.name, {x}, os,
                           {{"ln2", int64_t{p.exp.ln2}}, {"b", int64_t{p.exp.b}}, {"c", int64_t{p.exp.c}},
                            {"z_max", int64_t{p.exp.z_max}}, {"out_bits", int64_t{kProbBits}}});
        return emit_probabilities(node, y, kProbBits - 1);
      }
      case NonlinearFamily::Int32Safe: {
        int32_t m_star = opt_.softmax_m_star;
        for (const auto& sm : calib_.softmax)
          if (sm.node == node.name) m_star = sm.m_star;
        const double s_min = kernels::int32safe_softmax_min_input_scale(m_star);
        if (mx.scale < s_min) {
          // Requantize the logits to the coarsest scale the i-exp allows at this M* (MLSys'23).
          const Requant rq = kernels::make_requant(mx.scale / s_min, mx.bound());
          const int32_t nb = clamp_to_i32(std::ceil(mx.bound() * mx.scale / s_min) + 1);
          const int y = emit("QRequantize", node.name + ".in_requant",
                             {x, constant(node.name + ".in_requant.rq", rq_tensor({rq}))}, ig().value(x).shape,
                             {{"axis", int64_t{-1}}, {"lo", int64_t{-nb}}, {"hi", int64_t{nb}}});
          Meta c;
          c.scale = s_min;
          c.lo = -nb;
          c.hi = nb;
          meta_[y] = c;
          x = y;
          mx = c;
        }
        const ref::Int32SafeSoftmaxParams p = kernels::make_int32safe_softmax_params(mx.scale, m_star);
        bound_record(node.name, "int32safe_softmax", kernels::int32safe_softmax_bound(p, cols, mx.bound()));
        const int y = emit("QInt32SafeSoftmax", node.name, {x}, os,
                           {{"ln2", int64_t{p.exp.ln2}}, {"b", int64_t{p.exp.b}}, {"c", int64_t{p.exp.c}},
                            {"z_max", int64_t{p.exp.z_max}}, {"m_star", int64_t{m_star}}});
        return emit_probabilities(node, y, m_star);
      }
    }
  }

  void lower_gelu(const Node& node) {
    int x = per_tensor_input(node, 0);
    Meta mx = meta_[x];
    const Shape& os = f_.value(node.outputs[0]).shape;
    int y = -1;
    double out_scale = 1;
    double worst = 0;
    switch (opt_.family) {
      case NonlinearFamily::Shift: {
        const ref::ShiftGeluParams p = kernels::make_shiftgelu_params(mx.scale, kSigmoidBits);
        const auto b = kernels::shiftgelu_bound(p, mx.bound());
        bound_record(node.name, "shiftgelu", b);
        y = emit("QShiftGelu", node.name, {x}, os,
                 {{"i0", int64_t{p.exp.i0}}, {"n", int64_t{p.exp.n}}, {"sigmoid_bits", int64_t{p.sigmoid_bits}}});
        out_scale = kernels::shiftgelu_output_scale(mx.scale, p);
        worst = double(mx.bound()) * std::ldexp(1.0, kSigmoidBits - 1);
        break;
      }
      case NonlinearFamily::Poly:
      case NonlinearFamily::Int32Safe: {
        if (opt_.family == NonlinearFamily::Int32Safe && mx.bound() > kernels::kInt32SafeGeluMaxInput)
          throw Error("GELU input has " + std::to_string(mx.bound()) + " levels; the int32-safe GELU needs < 10 bits");
        const ref::IBertGeluParams p = opt_.family == NonlinearFamily::Poly
                                           ? kernels::make_ibert_gelu_params(mx.scale)
                                           : kernels::make_int32safe_gelu_params(mx.scale, mx.bound());
        const auto b = kernels::ibert_gelu_bound(p, mx.bound());
        bound_record(node.name, opt_.family == NonlinearFamily::Poly ? "ibert_gelu" : "int32safe_gelu", b);
        y = emit("QIBertGelu", node.name, {x}, os,
                 {{"clip", int64_t{p.erf.clip}}, {"one", int64_t{p.erf.one}}, {"shift", int64_t{p.erf.shift}},
                  {"one_shifted", int64_t{p.one_shifted}}});
        out_scale = kernels::ibert_gelu_output_scale(mx.scale, p);
        worst = double(mx.bound()) * 2.0 * p.one_shifted;
        break;
      }
    }
    Meta m;
    m.scale = out_scale;
    m.lo = -clamp_to_i32(worst);
    m.hi = clamp_to_i32(worst);
    set(node.outputs[0], y, m);
  }

  void lower_layernorm(const Node& node) {
    const int x = per_tensor_input(node, 0);
    const Meta mx = meta_[x];
    if (!mx.grid) throw Error("LayerNorm input is not on a quantization grid (no calibration point)");
    const int fo = node.outputs[0];
    auto it = points_.find(fo);
    if (it == points_.end()) throw Error("LayerNorm output has no calibration point");
    const QuantParams& qp = it->second->params;
    const Tensor gamma = f_.constant(node.inputs.at(1)).cast(DType::Float32);
    const Tensor beta = node.inputs.size() > 2 && node.inputs[2] >= 0 ? f_.constant(node.inputs[2]).cast(DType::Float32)
                                                                       : Tensor(DType::Float32, gamma.shape());
    const int32_t in_bits = std::max<int32_t>(1, kernels::bit_length(mx.bound()));
    const ref::ILayerNormParams p = kernels::make_ilayernorm_params(
        std::vector<float>(gamma.data<float>(), gamma.data<float>() + gamma.numel()),
        std::vector<float>(beta.data<float>(), beta.data<float>() + beta.numel()), node.attr_float("epsilon", 1e-5f),
        mx.scale, in_bits, qp.scale, grid_range(qp), 15);
    bound_record(node.name, "ilayernorm", kernels::ilayernorm_bound(p, mx.bound()));
    const int64_t channels = gamma.numel();
    Tensor g(DType::Int32, {channels}), b(DType::Int32, {channels});
    std::copy(p.gamma.begin(), p.gamma.end(), g.data<int32_t>());
    std::copy(p.beta.begin(), p.beta.end(), b.data<int32_t>());
    const int y = emit("QLayerNorm", node.name,
                       {x, constant(node.name + ".gamma_q", g), constant(node.name + ".beta_q", b),
                        constant(node.name + ".rq", rq_tensor(p.rq))},
                       f_.value(fo).shape,
                       {{"input_bits", int64_t{p.input_bits}}, {"shift_m", int64_t{p.shift_m}},
                        {"var_eps", int64_t{p.var_eps}}, {"lo", int64_t{p.range.lo}}, {"hi", int64_t{p.range.hi}}});
    Meta m;
    m.grid = true;
    m.point = qp;
    m.scale = qp.scale;
    m.lo = p.range.lo;
    m.hi = p.range.hi;
    set(fo, y, m);
  }

  // A float constant added to (or concatenated with) an integer value: quantized to that value's
  // scale(s), broadcast to the trailing shape `shape` it must have.
  Tensor constant_at(const Tensor& c, const Meta& m, const Shape& full, size_t skip_leading, int32_t& cmax) {
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
      if (std::abs(v) > double(1 << 30)) throw Error("constant does not fit int32 at the tensor's scale");
      q.data<int32_t>()[i] = static_cast<int32_t>(v);
      cmax = std::max(cmax, std::abs(q.data<int32_t>()[i]));
    }
    return q;
  }

  void lower_add(const Node& node) {
    const Shape& os = f_.value(node.outputs[0]).shape;
    const bool c0 = f_.is_constant(node.inputs[0]), c1 = f_.is_constant(node.inputs[1]);
    if (c0 && c1) throw Error("adds two constants");
    if (c0 || c1) {
      const size_t di = c0 ? 1 : 0;
      const int d = in(node, di);
      const Meta md = meta_[d];
      if (ig().value(d).shape != os) throw Error("constant operand broadcasts the data operand");
      const Tensor& c = f_.constant(node.inputs[1 - di]);
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
      return;
    }
    const int a = per_tensor_input(node, 0), b = per_tensor_input(node, 1);
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

  void lower_scale(const Node& node) {
    const int data = f_.is_constant(node.inputs[0]) ? 1 : 0;
    auto s = scalar_factor(node, node.inputs[data]);
    if (!s) throw Error(node.op + " is supported only by a positive scalar constant (a change of scale)");
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
  void lower_relu(const Node& node) {
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
  void lower_max_pool(const Node& node) {
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

  void lower_mean(const Node& node) {
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

  // Where the channel axis of a per-channel value goes through data movement, or -1 if it does not
  // survive as one axis of the same size.
  int carried_axis(const Node& node, int data, const Meta& m) const {
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
  std::optional<QuantParams> concat_grid(const Node& node) {
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

  Meta grid_meta(const QuantParams& p) const {
    Meta g;
    g.grid = true;
    g.point = p;
    g.scale = p.scale;
    g.lo = grid_range(p).lo;
    g.hi = grid_range(p).hi;
    return g;
  }

  void lower_movement(const Node& node) {
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
};

}  // namespace

LoweredModel lower_to_integer(const Graph& g, const CalibrationResult& calib, const LoweringOptions& options) {
  return Lowerer(g, calib, options).run();
}

}  // namespace qvit
