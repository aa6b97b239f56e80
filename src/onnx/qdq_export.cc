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
  QdqWriter(const Graph& g, const CalibrationResult& calib, onnx::GraphProto* gp)
      : g_(g), gp_(gp), vname_(unique_value_names(g, names_)), read_(vname_), write_(vname_) {
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
      set_value_info(gp_->add_input(), vname_[id], g_.value(id).dtype, g_.value(id).shape);
      quantize_point(id);
    }
    for (const Node& node : g_.nodes) {
      convert(node);
      for (int o : node.outputs)
        if (o >= 0) quantize_point(o);
    }
    for (int id : g_.outputs) set_value_info(gp_->add_output(), vname_[id], g_.value(id).dtype, g_.value(id).shape);
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
    if (g_.is_constant(id) && written_.insert(id).second) tensor_to_proto(g_.constant(id), vname_[id], gp_->add_initializer());
    return read_[id];
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
      auto* np = gp_->add_node();
      np->set_name(node_names_.fresh(node.name.empty() ? node.op : node.name));
      np->set_op_type(node.op);
      for (int v : node.inputs) np->add_input(input(v));
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

QdqExportSummary save_qdq_onnx(const Graph& g, const CalibrationResult& calib, const std::string& path) {
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
  const QdqExportSummary summary = QdqWriter(g, calib, gp).run();
  add_metadata(m, "qvit.qdq.format", kQdqFormat);
  add_metadata(m, "qvit.recipe", calib.recipe.name);
  add_metadata(m, "qvit.qdq.notes", nlohmann::json(summary.notes).dump());
  for (const auto& note : summary.notes) spdlog::warn("{}: {}", path, note);
  write_model(m, path);
  return summary;
}

}  // namespace qvit
