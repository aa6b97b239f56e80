#include "onnx/qdq_export.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "onnx/onnx_proto_util.h"

namespace qvit {

namespace {

using namespace onnx_util;

class QdqWriter {
 public:
  // `at_batch_2`: the same model imported at batch 2 (`g` at batch 1) for a dynamic-batch export.
  QdqWriter(const Graph& g, const CalibrationResult& calib, onnx::GraphProto* gp, const Graph* at_batch_2)
      : g_(g), g2_(at_batch_2), gp_(gp), vname_(unique_value_names(g, names_)), read_(vname_), write_(vname_) {
    if (g2_) check_same_structure();
    for (const auto& w : calib.weights) weights_[w.node] = &w;
    for (const auto& a : calib.activations) {
      const int id = g.find_value(a.value);
      if (id < 0) throw Error(g.source + ": calibration quantizes tensor '" + a.value + "', which this model does not have");
      points_[id] = &a;
    }
  }

  QdqExportSummary run() {
    // A quantized value keeps its name on the DequantizeLinear output, so consumers and graph
    // outputs are unchanged; its producer writes "<name>_float". A quantized graph input keeps its
    // name as the input and consumers read "<name>_dq".
    for (const auto& [id, point] : points_) {
      if (!expressible(*point) || g_.is_constant(id)) continue;
      active_.insert(id);
      if (is_graph_input(id)) read_[id] = names_.fresh(vname_[id] + "_dq");
      else write_[id] = names_.fresh(vname_[id] + "_float");
    }
    for (int id : g_.inputs) {
      add_value_info(gp_->add_input(), id);
      quantize_point(id);
    }
    for (const Node& node : g_.nodes) {
      convert(node);
      for (int o : node.outputs)
        if (o >= 0) quantize_point(o);
    }
    for (int id : g_.outputs) add_value_info(gp_->add_output(), id);
    if (!log_points_.empty())
      summary_.notes.push_back(std::to_string(log_points_.size()) +
                               " log-sqrt2 softmax point(s) left in float: QDQ has no logarithmic quantizer (" +
                               join(log_points_) + ")");
    if (!narrow_points_.empty())
      summary_.notes.push_back(std::to_string(narrow_points_.size()) +
                               " activation point(s) below 8 bits are stored as 8-bit QuantizeLinear outputs; a Clip to "
                               "the calibrated range in front of each keeps their values on the low-bit grid, but a "
                               "backend running int8 kernels moves 8-bit tensors, not packed low-bit ones");
    return summary_;
  }

 private:
  bool is_graph_input(int id) const { return std::find(g_.inputs.begin(), g_.inputs.end(), id) != g_.inputs.end(); }

  static std::string join(const std::set<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
  }

  // Points QDQ can express; log-sqrt2 ones are listed in the notes.
  bool expressible(const ActivationQuant& p) {
    if (p.params.scheme == QuantScheme::LogSqrt2) {
      log_points_.insert(p.value);
      return false;
    }
    if (p.params.bits > 8)
      throw Error(g_.source + ": tensor '" + p.value + "' is quantized to " + std::to_string(p.params.bits) +
                  " bits; QDQ export supports up to 8");
    if (p.params.bits < 8) narrow_points_.insert(p.value);
    return true;
  }

  std::string input(int id) {
    if (id < 0) return "";
    if (g_.is_constant(id) && written_.insert(id).second) {
      if (g2_ && !same_constant(g_.constant(id), g2_->constant(id))) batch_dependent_constant(id);
      else tensor_to_proto(g_.constant(id), vname_[id], gp_->add_initializer());
    }
    return read_[id];
  }

  // ---- dynamic batch: what differs between the graphs at batch 1 and 2 is computed from N ----

  void check_same_structure() const {
    const Graph& b = *g2_;
    bool same = b.nodes.size() == g_.nodes.size() && b.values.size() == g_.values.size() && b.inputs == g_.inputs &&
                b.outputs == g_.outputs;
    for (size_t n = 0; same && n < g_.nodes.size(); ++n)
      same = b.nodes[n].op == g_.nodes[n].op && b.nodes[n].inputs == g_.nodes[n].inputs &&
             b.nodes[n].outputs == g_.nodes[n].outputs && b.nodes[n].attrs.size() == g_.nodes[n].attrs.size();
    for (size_t v = 0; same && v < g_.values.size(); ++v) same = g_.is_constant(static_cast<int>(v)) == b.is_constant(static_cast<int>(v));
    if (!same)
      throw Error(g_.source + ": the folded graph's structure changes with the batch, so QDQ export needs a fixed batch; "
                  "pass --batch N");
  }

  static bool same_constant(const Tensor& a, const Tensor& b) {
    return a.dtype() == b.dtype() && a.shape() == b.shape() && std::equal(a.raw(), a.raw() + a.nbytes(), b.raw());
  }

  // N, the batch, as an int64 scalar read off the first graph input's shape.
  std::string batch_scalar() {
    if (!batch_.empty()) return batch_;
    const std::string shape = emit("Shape", "qvit_batch.shape", {read_[g_.inputs.at(0)]});
    return batch_ = emit("Gather", "qvit_batch", {shape, initializer("qvit_batch.index", Tensor::scalar<int64_t>(0))}, "",
                         {{"axis", int64_t{0}}});
  }

  // a + b·N element-wise, from the values at N = 1 and N = 2 (shape arithmetic is affine in N).
  std::string affine_in_batch(const std::vector<int64_t>& at1, const std::vector<int64_t>& at2, const std::string& base,
                              const std::string& out = "") {
    Tensor a(DType::Int64, {static_cast<int64_t>(at1.size())}), b(DType::Int64, {static_cast<int64_t>(at1.size())});
    for (size_t i = 0; i < at1.size(); ++i) {
      b.data<int64_t>()[i] = at2[i] - at1[i];
      a.data<int64_t>()[i] = at1[i] - b.data<int64_t>()[i];
    }
    const std::string scaled = emit("Mul", base + ".per_batch", {batch_scalar(), initializer(base + ".slope", b)});
    return emit("Add", base + ".at_batch", {scaled, initializer(base + ".offset", a)}, out);
  }

  void batch_dependent_constant(int id) {
    const Tensor& c1 = g_.constant(id);
    const Tensor& c2 = g2_->constant(id);
    const std::string& name = vname_[id];
    const bool integer = c1.dtype() == DType::Int64 || c1.dtype() == DType::Int32;
    if (integer && c1.shape() == c2.shape() && c1.rank() <= 1) {
      // Shape arithmetic (a Reshape target [N·197, 384], an Expand shape): computed from N.
      Shape one = c1.shape().empty() ? Shape{1} : c1.shape();
      const std::string v = affine_in_batch(c1.as_int64s(), c2.as_int64s(), name, c1.rank() == 0 || c1.dtype() == DType::Int32 ? "" : name);
      std::string r = v;
      if (c1.dtype() == DType::Int32) r = emit("Cast", name + ".cast", {r}, c1.rank() == 0 ? "" : name, {{"to", int64_t{6}}});
      if (c1.rank() == 0) emit("Squeeze", name + ".scalar", {r, initializer(name + ".axes", Tensor::from_vector<int64_t>({1}, {0}))}, name);
      return;
    }
    // A constant repeated over the batch along one axis (a class token expanded by the exporter,
    // [N,1,D] batch-first or [1,N,D] sequence-first): its slice at N = 1 expanded to N.
    int axis = -1;
    bool repeated = c1.dtype() == c2.dtype() && c1.rank() == c2.rank() && c1.rank() >= 1;
    for (int a = 0; repeated && a < c1.rank(); ++a)
      if (c1.shape()[a] != c2.shape()[a]) {
        repeated = axis < 0 && c1.shape()[a] == 1 && c2.shape()[a] == 2;
        axis = a;
      }
    repeated = repeated && axis >= 0;
    if (repeated) {
      // c2 = [c1, c1] along `axis`: each outer block of c2 holds the same block of c1 twice.
      int64_t outer = 1;
      for (int a = 0; a < axis; ++a) outer *= c1.shape()[a];
      const size_t block = c1.nbytes() / static_cast<size_t>(outer);
      for (int64_t o = 0; repeated && o < outer; ++o)
        for (int k = 0; repeated && k < 2; ++k)
          repeated = std::equal(c1.raw() + o * block, c1.raw() + (o + 1) * block, c2.raw() + (2 * o + k) * block);
    }
    if (!repeated)
      throw Error(g_.source + ": constant '" + name + "' depends on the batch in a way QDQ export cannot express; pass --batch N "
                  "for a fixed-batch export");
    std::vector<int64_t> s1(c1.shape().begin(), c1.shape().end()), s2 = s1;
    s2[static_cast<size_t>(axis)] = 2;
    const std::string shape = affine_in_batch(s1, s2, name + ".shape");
    emit("Expand", name + ".expand", {initializer(name + ".slice", c1), shape}, name);
  }

  void add_value_info(onnx::ValueInfoProto* vi, int id) {
    set_value_info(vi, vname_[id], g_.value(id).dtype, g_.value(id).shape);
    if (!g2_) return;
    const Shape& s2 = g2_->value(id).shape;
    auto* dims = vi->mutable_type()->mutable_tensor_type()->mutable_shape();
    for (int d = 0; d < dims->dim_size() && d < static_cast<int>(s2.size()); ++d)
      if (dims->dim(d).dim_value() != s2[static_cast<size_t>(d)]) dims->mutable_dim(d)->set_dim_param("N");
  }

  std::string initializer(const std::string& base, const Tensor& t) {
    const std::string name = names_.fresh(base);
    tensor_to_proto(t, name, gp_->add_initializer());
    return name;
  }

  std::string scalar(float v) {
    auto it = scalars_.find(v);
    if (it != scalars_.end()) return it->second;
    return scalars_[v] = initializer("qvit_const_" + std::to_string(scalars_.size()), Tensor::scalar<float>(v));
  }

  // Adds a node; `out` empty: a fresh output named after `base`.
  std::string emit(const std::string& op, const std::string& base, std::vector<std::string> inputs, std::string out = "",
                   const std::map<std::string, AttrValue>& attrs = {}) {
    if (out.empty()) out = names_.fresh(base);
    auto* np = gp_->add_node();
    np->set_name(node_names_.fresh(base));
    np->set_op_type(op);
    for (auto& in : inputs) np->add_input(in);
    np->add_output(out);
    for (const auto& [k, v] : attrs) attr_to_proto(k, v, np->add_attribute(), base);
    return out;
  }

  // Weight of a Linear/Conv as DequantizeLinear(int8/uint8 codes, per-channel scale, zero point).
  std::string weight(const Node& node, int id) {
    auto it = weights_.find(node.name);
    if (it == weights_.end()) return input(id);
    const ChannelQuantParams& p = it->second->params;
    if (p.bits > 8 || p.scheme == QuantScheme::LogSqrt2)
      throw Error(g_.source + ": " + node.describe() + ": " + std::to_string(p.bits) + "-bit " + scheme_name(p.scheme) +
                  " weights cannot be stored in QDQ int8/uint8");
    const Tensor& w = g_.constant(id);
    const int64_t channels = w.shape().at(static_cast<size_t>(p.axis));
    if (static_cast<int64_t>(p.scale.size()) != channels)
      throw Error(g_.source + ": " + node.describe() + ": calibration has " + std::to_string(p.scale.size()) + " weight channels, the model " +
                  std::to_string(channels));
    int64_t inner = 1;
    for (int a = p.axis + 1; a < w.rank(); ++a) inner *= w.shape()[a];
    const bool is_signed = p.scheme == QuantScheme::Symmetric;
    const DType code_type = is_signed ? DType::Int8 : DType::UInt8;
    Tensor codes(DType::Int32, w.shape()), scale(DType::Float32, {channels}), zero(DType::Int32, {channels});
    for (int64_t c = 0; c < channels; ++c) {
      scale.data<float>()[c] = p.scale[static_cast<size_t>(c)];
      zero.data<int32_t>()[c] = p.channel(static_cast<size_t>(c)).zero_point;
    }
    for (int64_t i = 0; i < w.numel(); ++i)
      codes.data<int32_t>()[i] = p.channel(static_cast<size_t>((i / inner) % channels)).quantize(w.data<float>()[i]);
    ++summary_.weights;
    return emit("DequantizeLinear", node.name + ".weight_dq",
                {initializer(node.name + ".weight_quantized", codes.cast(code_type)), initializer(node.name + ".weight_scale", scale),
                 initializer(node.name + ".weight_zero_point", zero.cast(code_type))},
                "", {{"axis", int64_t{p.axis}}});
  }

  // QuantizeLinear → DequantizeLinear on value `id` (with a Clip first below 8 bits).
  void quantize_point(int id) {
    if (!active_.count(id)) return;
    const QuantParams& p = points_.at(id)->params;
    const bool is_signed = p.scheme == QuantScheme::Symmetric;
    const DType code_type = is_signed ? DType::Int8 : DType::UInt8;
    const std::string base = vname_[id];
    const std::string scale = initializer(base + ".scale", Tensor::scalar<float>(p.scale));
    const std::string zero = initializer(base + ".zero_point", Tensor::scalar<int32_t>(p.zero_point).cast(code_type));
    std::string x = write_[id];
    if (p.bits < 8) {
      x = emit("Clip", base + ".clip", {x, scalar(p.scale * static_cast<float>(p.qmin() - p.zero_point)),
                                        scalar(p.scale * static_cast<float>(p.qmax() - p.zero_point))});
    }
    const std::string q = emit("QuantizeLinear", base + ".quantize", {x, scale, zero});
    emit("DequantizeLinear", base + ".dequantize", {q, scale, zero}, read_[id]);
    ++summary_.activation_points;
  }

  void convert(const Node& node) {
    const std::string out = node.outputs.empty() || node.outputs[0] < 0 ? "" : write_[node.outputs[0]];
    if (node.op == "Linear") {
      const std::string w = weight(node, node.inputs[1]);
      const bool bias = node.inputs.size() > 2 && node.inputs[2] >= 0;
      const std::string mm = emit("MatMul", node.name, {input(node.inputs[0]), w}, bias ? "" : out);
      if (bias) emit("Add", node.name + ".bias", {mm, input(node.inputs[2])}, out);
    } else if (node.op == "Conv") {
      std::vector<std::string> ins = {input(node.inputs[0]), weight(node, node.inputs[1])};
      for (size_t i = 2; i < node.inputs.size(); ++i) ins.push_back(input(node.inputs[i]));
      emit("Conv", node.name, ins, out, node.attrs);
    } else if (node.op == "LayerNorm") {
      emit("LayerNormalization", node.name, {input(node.inputs[0]), input(node.inputs[1]), input(node.inputs[2])}, out,
           {{"axis", int64_t{-1}}, {"epsilon", node.attr_float("epsilon", 1e-5f)}});
    } else if (node.op == "Gelu") {
      convert_gelu(node, out);
    } else {
      // Inputs first: a batch-dependent constant emits the nodes computing it, which must come
      // before this one.
      std::vector<std::string> ins;
      for (int v : node.inputs) ins.push_back(input(v));
      auto* np = gp_->add_node();
      np->set_name(node_names_.fresh(node.name.empty() ? node.op : node.name));
      np->set_op_type(node.op);
      for (const auto& in : ins) np->add_input(in);
      for (int v : node.outputs) np->add_output(v >= 0 ? write_[v] : "");
      for (const auto& [k, v] : node.attrs) attr_to_proto(k, v, np->add_attribute(), node.describe());
    }
  }

  // Gelu is an ONNX op only from opset 20: write the form the importer fused (erf, or tanh).
  void convert_gelu(const Node& node, const std::string& out) {
    const std::string x = input(node.inputs[0]), n = node.name;
    if (node.attr_string("approximate", "none") == "tanh") {
      const std::string x3 = emit("Mul", n + ".x3", {emit("Mul", n + ".x2", {x, x}), x});
      const std::string inner = emit("Add", n + ".inner", {x, emit("Mul", n + ".cubic", {x3, scalar(0.044715f)})});
      const std::string t = emit("Tanh", n + ".tanh", {emit("Mul", n + ".scaled", {inner, scalar(0.7978845608f)})});
      emit("Mul", n + ".out", {emit("Mul", n + ".half_x", {x, scalar(0.5f)}), emit("Add", n + ".one_plus", {t, scalar(1.0f)})}, out);
      return;
    }
    const std::string e = emit("Erf", n + ".erf", {emit("Div", n + ".div", {x, scalar(static_cast<float>(std::sqrt(2.0)))})});
    const std::string xe = emit("Mul", n + ".mul", {x, emit("Add", n + ".add", {e, scalar(1.0f)})});
    emit("Mul", n + ".half", {xe, scalar(0.5f)}, out);
  }

  const Graph& g_;
  const Graph* g2_;
  std::string batch_;  // the batch scalar's name, once emitted
  onnx::GraphProto* gp_;
  UniqueNames names_, node_names_;
  std::vector<std::string> vname_, read_, write_;
  std::map<std::string, const WeightQuant*> weights_;
  std::map<int, const ActivationQuant*> points_;
  std::set<int> written_, active_;
  std::map<float, std::string> scalars_;
  std::set<std::string> log_points_, narrow_points_;
  QdqExportSummary summary_;
};

}  // namespace

QdqExportSummary save_qdq_onnx(const Graph& g, const CalibrationResult& calib, const std::string& path,
                               const Graph* at_batch_2) {
  require_exportable_opset(g, "QDQ export");
  onnx::ModelProto m;
  m.set_ir_version(kExportIrVersion);
  m.set_producer_name("qvit");
  m.set_doc_string("QDQ export of " + g.source + " with calibration recipe " + calib.recipe.name);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kExportOpset);
  auto* gp = m.mutable_graph();
  gp->set_name("qvit_qdq");
  const QdqExportSummary summary = QdqWriter(g, calib, gp, at_batch_2).run();
  add_metadata(m, "qvit.qdq.format", kQdqFormat);
  add_metadata(m, "qvit.recipe", calib.recipe.name);
  add_metadata(m, "qvit.qdq.notes", nlohmann::json(summary.notes).dump());
  for (const auto& note : summary.notes) spdlog::warn("{}: {}", path, note);
  write_model(m, path);
  return summary;
}

}  // namespace qvit
