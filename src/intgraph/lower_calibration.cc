// Integer lowering: the calibration checked against the graph it is applied to, before anything is
// lowered. parse_calibration_result checked what a file can say about itself; what needs the model
// — that every tensor and node it names exists and is of the right kind, that per-channel lists
// have one entry per channel of the tensor they describe, that a softmax's row length is the
// model's — is checked here, for files and for calibrations built in memory alike. Errors name the
// calibration and the field, as the parser's do: `<calib>: field "weights[3].scale": ...`.
#include <algorithm>
#include <map>
#include <set>

#include "intgraph/lower.h"
#include "util/limits.h"

namespace qvit {

namespace {

std::string at(const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; }

class CalibrationCheck {
 public:
  CalibrationCheck(const Graph& g, const CalibrationResult& calib)
      : g_(g), source_(calib.source.empty() ? std::string("calibration") : calib.source) {
    for (size_t n = 0; n < g.nodes.size(); ++n) nodes_.emplace(g.nodes[n].name, static_cast<int>(n));
  }

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw Error(source_ + ": field \"" + clip_for_message(field) + "\": " + problem + " (model " + g_.source + ")");
  }

  // The node named `name`, which must be one of `ops`.
  const Node& node(const std::string& name, const std::string& field, const std::set<std::string>& ops) const {
    auto it = nodes_.find(name);
    std::string kinds;
    for (const auto& op : ops) kinds += (kinds.empty() ? "" : " or ") + op;
    if (it == nodes_.end()) fail(field, "the model has no " + kinds + " node '" + clip_for_message(name) + "'");
    const Node& n = g_.nodes[static_cast<size_t>(it->second)];
    if (!ops.count(n.op)) fail(field, "node '" + clip_for_message(name) + "' is a " + n.op + ", not a " + kinds);
    return n;
  }

  void unique(std::set<std::string>& seen, const std::string& name, const std::string& field) const {
    if (!seen.insert(name).second) fail(field, std::string("'").append(clip_for_message(name)).append("' appears twice"));
  }

  void activations(const std::vector<ActivationQuant>& acts) const {
    std::set<std::string> seen;
    for (size_t i = 0; i < acts.size(); ++i) {
      const ActivationQuant& a = acts[i];
      unique(seen, a.value, at("activations", i) + ".value");
      if (g_.find_value(a.value) < 0)
        fail(at("activations", i) + ".value", "quantizes tensor '" + clip_for_message(a.value) + "', which the model does not have");
      if (std::string problem = quant_params_problem(a.params); !problem.empty()) fail(at("activations", i) + ".params", problem);
      // The runtime quantizes the image with quantize() − zero_point: a uniform grid only.
      const int id = g_.find_value(a.value);
      if (a.params.scheme == QuantScheme::LogSqrt2 && std::find(g_.inputs.begin(), g_.inputs.end(), id) != g_.inputs.end())
        fail(at("activations", i) + ".params.scheme", "log_sqrt2 quantizes the model input '" + clip_for_message(a.value) +
                                                          "'; the model input needs a uniform grid");
    }
  }

  void weights(const std::vector<WeightQuant>& ws) const {
    std::set<std::string> seen;
    for (size_t i = 0; i < ws.size(); ++i) {
      const WeightQuant& w = ws[i];
      const std::string fld = at("weights", i);
      unique(seen, w.node, fld + ".node");
      const Node& n = node(w.node, fld + ".node", {"Linear", "Conv"});
      if (std::string problem = channel_quant_params_problem(w.params); !problem.empty()) fail(fld, problem);
      // The lowering's (and the quantization plan's) channel axis: Linear W[K,N] per column, Conv W[M,...] per filter.
      const int axis = n.op == "Linear" ? 1 : 0;
      if (w.params.axis != axis)
        fail(fld + ".axis", std::to_string(w.params.axis) + " is not the output-channel axis " + std::to_string(axis) + " of a " + n.op);
      if (n.inputs.size() < 2 || !g_.is_constant(n.inputs[1])) continue;  // the lowering refuses the node itself
      const Shape& s = g_.constant(n.inputs[1]).shape();
      const int64_t channels = static_cast<int64_t>(s.size()) > axis ? s[static_cast<size_t>(axis)] : -1;
      if (channels != static_cast<int64_t>(w.params.scale.size()))
        fail(fld + ".scale", "has " + std::to_string(w.params.scale.size()) + " entries, the weight " + shape_str(s) + " of " +
                                 n.describe() + " has " + std::to_string(channels) + " output channels");
    }
  }

  void softmax(const std::vector<SoftmaxMStar>& sm) const {
    std::set<std::string> seen;
    for (size_t i = 0; i < sm.size(); ++i) {
      const std::string fld = at("softmax", i);
      unique(seen, sm[i].node, fld + ".node");
      const Node& n = node(sm[i].node, fld + ".node", {"Softmax"});
      if (sm[i].m_star < 1 || sm[i].m_star > 30) fail(fld + ".m_star", std::to_string(sm[i].m_star) + " is outside [1, 30]");
      if (n.inputs.empty() || n.inputs[0] < 0) continue;  // the lowering refuses the node itself
      const Shape& s = g_.value(n.inputs[0]).shape;
      const int64_t r = static_cast<int64_t>(s.size());
      int64_t axis = n.attr_int("axis", -1);
      axis = axis < 0 ? axis + r : axis;
      if (axis < 0 || axis >= r) continue;
      if (s[static_cast<size_t>(axis)] != sm[i].cols)
        fail(fld + ".cols", std::to_string(sm[i].cols) + " is not the row length " + std::to_string(s[static_cast<size_t>(axis)]) +
                                " of " + n.describe());
    }
  }

 private:
  const Graph& g_;
  std::string source_;
  std::map<std::string, int> nodes_;
};

}  // namespace

void check_calibration_against_graph(const Graph& g, const CalibrationResult& calib) {
  const CalibrationCheck check(g, calib);
  check.activations(calib.activations);
  check.weights(calib.weights);
  check.softmax(calib.softmax);
}

}  // namespace qvit
