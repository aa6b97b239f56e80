#include "calib/calibration_result.h"

#include <set>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_fields.h"
#include "util/limits.h"
#include "util/sha256.h"

namespace qvit {

using nlohmann::json;

namespace {

json params_json(const QuantParams& p) {
  return {{"scheme", scheme_name(p.scheme)}, {"bits", p.bits}, {"scale", p.scale}, {"zero_point", p.zero_point}};
}


// The largest zero point of a grid: a code of an asymmetric grid, 0 for centered ones.
int64_t zero_point_max(QuantScheme scheme, int bits) { return scheme == QuantScheme::Asymmetric ? (int64_t{1} << bits) - 1 : 0; }

QuantParams params_from(const JsonFields& f, const json& j, const std::string& field) {
  f.object(j, field);
  f.reject_unknown_keys(j, {"scheme", "bits", "scale", "zero_point"}, field + ".");
  QuantParams p;
  p.scheme = scheme_from_name(f.choice(f.require(j, "scheme", field + "."), field + ".scheme", {"asymmetric", "symmetric", "log_sqrt2"}));
  p.bits = static_cast<int>(f.integer(f.require(j, "bits", field + "."), field + ".bits", kMinQuantBits, kMaxQuantBits));
  p.scale = static_cast<float>(f.number(f.require(j, "scale", field + "."), field + ".scale", kMinQuantScale, kMaxQuantScale));
  p.zero_point = static_cast<int32_t>(
      f.integer(f.require(j, "zero_point", field + "."), field + ".zero_point", 0, zero_point_max(p.scheme, p.bits)));
  // The float the scale became (the range check above was on the double).
  if (std::string problem = quant_params_problem(p); !problem.empty()) f.fail(field, problem);
  return p;
}

std::vector<float> floats_from(const JsonFields& f, const json& j, const std::string& field, double lo, double hi) {
  f.array(j, field);
  std::vector<float> v;
  for (size_t i = 0; i < j.size(); ++i) v.push_back(static_cast<float>(f.number(j[i], JsonFields::index(field, i), lo, hi)));
  return v;
}

std::vector<std::string> strings_from(const JsonFields& f, const json& j, const std::string& field) {
  f.array(j, field);
  std::vector<std::string> v;
  for (size_t i = 0; i < j.size(); ++i) v.push_back(f.string(j[i], JsonFields::index(field, i)));
  return v;
}

// One entry per tensor / node: a second one would silently win (or, for a reparameterization,
// apply twice).
void reject_duplicate(const JsonFields& f, std::set<std::string>& seen, const std::string& name, const std::string& field) {
  if (!seen.insert(name).second) f.fail(field, "\"" + clip_for_message(name) + "\" appears twice");
}

}  // namespace

std::string CalibrationResult::to_json() const {
  json j;
  j["format"] = kCalibFormat;
  j["model"] = model;
  j["model_sha256"] = model_sha256;
  j["recipe"] = json::parse(recipe_to_json(recipe));
  j["samples"] = samples;
  j["sample_ids"] = sample_ids;
  json rp = json::array();
  for (const auto& r : reparams) rp.push_back({{"layernorm", r.layernorm}, {"consumers", r.consumers}, {"r1", r.r1}, {"offset", r.offset}});
  j["reparams"] = rp;
  json ws = json::array();
  for (const auto& w : weights)
    ws.push_back({{"node", w.node}, {"scheme", scheme_name(w.params.scheme)}, {"bits", w.params.bits}, {"axis", w.params.axis},
                  {"scale", w.params.scale}, {"zero_point", w.params.zero_point}});
  j["weights"] = ws;
  json as = json::array();
  for (const auto& a : activations)
    as.push_back({{"value", a.value}, {"role", a.role}, {"params", params_json(a.params)}, {"observed_min", a.observed_min},
                  {"observed_max", a.observed_max}});
  j["activations"] = as;
  json sm = json::array();
  for (const auto& m : softmax)
    sm.push_back({{"node", m.node}, {"cols", m.cols}, {"m_star", m.m_star}, {"output_oriented", m.output_oriented},
                  {"smallest_gap", m.smallest_gap}, {"mse_best", m.mse_best}, {"mse", m.mse}});
  j["softmax"] = sm;
  if (!importance.empty()) {
    json im = json::array();
    for (const auto& l : importance)
      im.push_back({{"layer", l.layer}, {"kind", l.kind}, {"block", l.block}, {"score", l.score}, {"relative", l.relative}});
    j["importance"] = im;
  }
  if (allocation) {
    const BitAllocation& a = *allocation;
    json ls = json::array();
    for (const auto& l : a.layers)
      ls.push_back({{"layer", l.layer}, {"weight_bits", l.weight_bits}, {"activation_bits", l.activation_bits},
                    {"weight_count", l.weight_count}, {"activation_count", l.activation_count}});
    j["allocation"] = {{"scorer", a.scorer},
                       {"blocks", a.blocks},
                       {"budget_bits", {{"weights", a.weight_budget}, {"activations", a.activation_budget}}},
                       {"weight_bits_avg", a.weight_bits_avg},
                       {"activation_bits_avg", a.activation_bits_avg},
                       {"exact", a.exact},
                       {"note", a.note},
                       {"layers", ls}};
  }
  return j.dump(1) + "\n";
}

void CalibrationResult::save(const std::string& path) const { write_file_atomic(path, to_json()); }

CalibrationResult parse_calibration_result(const std::string& text, const std::string& source) {
  const JsonFields f(source);
  const json j = f.parse(text);
  if (!j.is_object()) f.fail_file("a calibration result must be a JSON object");
  const std::string format = f.string(f.require(j, "format", ""), "format");
  if (format != kCalibFormat)
    f.fail("format", "unsupported calibration format \"" + clip_for_message(format) + "\" (this qvit reads \"" + kCalibFormat + "\")");
  f.reject_unknown_keys(j, {"format", "model", "model_sha256", "recipe", "samples", "sample_ids", "reparams", "weights", "activations", "softmax", "importance", "allocation"}, "");
  CalibrationResult r;
  r.source = source;
  r.model = f.string(f.require(j, "model", ""), "model");
  r.model_sha256 = f.string(f.require(j, "model_sha256", ""), "model_sha256");
  r.recipe = parse_recipe(f.require_object(j, "recipe", "").dump(), source + " (recipe)");
  r.samples = f.integer(f.require(j, "samples", ""), "samples", 0, int64_t{1} << 40);
  r.sample_ids = strings_from(f, f.require(j, "sample_ids", ""), "sample_ids");
  std::set<std::string> seen;
  const json& rp = f.array(f.require(j, "reparams", ""), "reparams");
  for (size_t i = 0; i < rp.size(); ++i) {
    const std::string fld = JsonFields::index("reparams", i);
    f.object(rp[i], fld);
    f.reject_unknown_keys(rp[i], {"layernorm", "consumers", "r1", "offset"}, fld + ".");
    LayerNormReparam p;
    p.layernorm = f.string(f.require(rp[i], "layernorm", fld + "."), fld + ".layernorm");
    reject_duplicate(f, seen, p.layernorm, fld + ".layernorm");
    p.consumers = strings_from(f, f.require(rp[i], "consumers", fld + "."), fld + ".consumers");
    // r1 divides γ and β: positive, and far enough from 0 and ∞ that the results stay finite.
    p.r1 = floats_from(f, f.require(rp[i], "r1", fld + "."), fld + ".r1", kMinQuantScale, kMaxQuantScale);
    p.offset = floats_from(f, f.require(rp[i], "offset", fld + "."), fld + ".offset", -kMaxQuantScale, kMaxQuantScale);
    if (p.r1.empty()) f.fail(fld + ".r1", "no entries (one per LayerNorm channel)");
    if (p.r1.size() != p.offset.size())
      f.fail(fld + ".offset", "has " + std::to_string(p.offset.size()) + " entries, r1 " + std::to_string(p.r1.size()));
    r.reparams.push_back(std::move(p));
  }
  seen.clear();
  const json& ws = f.array(f.require(j, "weights", ""), "weights");
  for (size_t i = 0; i < ws.size(); ++i) {
    const std::string fld = JsonFields::index("weights", i);
    f.object(ws[i], fld);
    f.reject_unknown_keys(ws[i], {"node", "scheme", "bits", "axis", "scale", "zero_point"}, fld + ".");
    WeightQuant w;
    w.node = f.string(f.require(ws[i], "node", fld + "."), fld + ".node");
    reject_duplicate(f, seen, w.node, fld + ".node");
    w.params.scheme = f.choice(f.require(ws[i], "scheme", fld + "."), fld + ".scheme", {"symmetric", "asymmetric"}) == "symmetric"
                          ? QuantScheme::Symmetric : QuantScheme::Asymmetric;
    w.params.bits = static_cast<int>(f.integer(f.require(ws[i], "bits", fld + "."), fld + ".bits", 2, 8));
    w.params.axis = static_cast<int>(f.integer(f.require(ws[i], "axis", fld + "."), fld + ".axis", 0, 8));
    w.params.scale = floats_from(f, f.require(ws[i], "scale", fld + "."), fld + ".scale", kMinQuantScale, kMaxQuantScale);
    if (w.params.scale.empty()) f.fail(fld + ".scale", "no entries (one per output channel)");
    const json& zp = f.array(f.require(ws[i], "zero_point", fld + "."), fld + ".zero_point");
    // One zero point per channel, or none (symmetric weights are centered anyway).
    if (!zp.empty() && zp.size() != w.params.scale.size())
      f.fail(fld + ".zero_point", "has " + std::to_string(zp.size()) + " entries, scale has " + std::to_string(w.params.scale.size()) +
                                      " (one per output channel, or none)");
    for (size_t k = 0; k < zp.size(); ++k)
      w.params.zero_point.push_back(static_cast<int32_t>(
          f.integer(zp[k], JsonFields::index(fld + ".zero_point", k), 0, zero_point_max(w.params.scheme, w.params.bits))));
    if (std::string problem = channel_quant_params_problem(w.params); !problem.empty()) f.fail(fld, problem);
    r.weights.push_back(std::move(w));
  }
  seen.clear();
  const json& as = f.array(f.require(j, "activations", ""), "activations");
  for (size_t i = 0; i < as.size(); ++i) {
    const std::string fld = JsonFields::index("activations", i);
    f.object(as[i], fld);
    f.reject_unknown_keys(as[i], {"value", "role", "params", "observed_min", "observed_max"}, fld + ".");
    ActivationQuant a;
    a.value = f.string(f.require(as[i], "value", fld + "."), fld + ".value");
    reject_duplicate(f, seen, a.value, fld + ".value");
    a.role = f.string(f.require(as[i], "role", fld + "."), fld + ".role");
    a.params = params_from(f, f.require(as[i], "params", fld + "."), fld + ".params");
    a.observed_min = static_cast<float>(f.number(f.require(as[i], "observed_min", fld + "."), fld + ".observed_min", -1e38, 1e38));
    a.observed_max = static_cast<float>(f.number(f.require(as[i], "observed_max", fld + "."), fld + ".observed_max", -1e38, 1e38));
    r.activations.push_back(std::move(a));
  }
  if (j.contains("softmax")) {
    seen.clear();
    const json& sm = f.array(j["softmax"], "softmax");
    for (size_t i = 0; i < sm.size(); ++i) {
      const std::string fld = JsonFields::index("softmax", i);
      f.object(sm[i], fld);
      f.reject_unknown_keys(sm[i], {"node", "cols", "m_star", "output_oriented", "smallest_gap", "mse_best", "mse"}, fld + ".");
      SoftmaxMStar m;
      m.node = f.string(f.require(sm[i], "node", fld + "."), fld + ".node");
      reject_duplicate(f, seen, m.node, fld + ".node");
      m.cols = f.integer(f.require(sm[i], "cols", fld + "."), fld + ".cols", 1, int64_t{1} << 30);
      m.m_star = static_cast<int32_t>(f.integer(f.require(sm[i], "m_star", fld + "."), fld + ".m_star", 1, 30));
      m.output_oriented = static_cast<int32_t>(f.integer(f.require(sm[i], "output_oriented", fld + "."), fld + ".output_oriented", 1, 30));
      // Recorded since the gap rule was added; files written before it lack it (0: not recorded).
      if (sm[i].contains("smallest_gap"))
        m.smallest_gap = static_cast<int32_t>(f.integer(sm[i]["smallest_gap"], fld + ".smallest_gap", 1, 30));
      m.mse_best = static_cast<int32_t>(f.integer(f.require(sm[i], "mse_best", fld + "."), fld + ".mse_best", 1, 30));
      m.mse = f.number(f.require(sm[i], "mse", fld + "."), fld + ".mse", 0, 1e30);
      r.softmax.push_back(std::move(m));
    }
  }
  if (j.contains("importance")) {
    seen.clear();
    const json& im = f.array(j["importance"], "importance");
    for (size_t i = 0; i < im.size(); ++i) {
      const std::string fld = JsonFields::index("importance", i);
      f.object(im[i], fld);
      f.reject_unknown_keys(im[i], {"layer", "kind", "block", "score", "relative"}, fld + ".");
      LayerImportanceRecord l;
      l.layer = f.string(f.require(im[i], "layer", fld + "."), fld + ".layer");
      reject_duplicate(f, seen, l.layer, fld + ".layer");
      l.kind = f.choice(f.require(im[i], "kind", fld + "."), fld + ".kind", {"linear", "conv", "matmul"});
      l.block = static_cast<int>(f.integer(f.require(im[i], "block", fld + "."), fld + ".block", -1, 1 << 20));
      l.score = f.number(f.require(im[i], "score", fld + "."), fld + ".score", 0, 1e300);
      l.relative = f.number(f.require(im[i], "relative", fld + "."), fld + ".relative", 0, 1e300);
      r.importance.push_back(std::move(l));
    }
  }
  if (j.contains("allocation")) {
    const json& al = f.object(j["allocation"], "allocation");
    f.reject_unknown_keys(al, {"scorer", "blocks", "budget_bits", "weight_bits_avg", "activation_bits_avg", "exact", "note", "layers"},
                          "allocation.");
    BitAllocation a;
    a.scorer = f.string(f.require(al, "scorer", "allocation."), "allocation.scorer");
    a.blocks = static_cast<int>(f.integer(f.require(al, "blocks", "allocation."), "allocation.blocks", 0, 1 << 20));
    const json& b = f.require_object(al, "budget_bits", "allocation.");
    f.reject_unknown_keys(b, {"weights", "activations"}, "allocation.budget_bits.");
    a.weight_budget = f.number(f.require(b, "weights", "allocation.budget_bits."), "allocation.budget_bits.weights", 2, 8);
    a.activation_budget = f.number(f.require(b, "activations", "allocation.budget_bits."), "allocation.budget_bits.activations", 2, 8);
    a.weight_bits_avg = f.number(f.require(al, "weight_bits_avg", "allocation."), "allocation.weight_bits_avg", 0, 8);
    a.activation_bits_avg = f.number(f.require(al, "activation_bits_avg", "allocation."), "allocation.activation_bits_avg", 0, 8);
    a.exact = f.boolean(f.require(al, "exact", "allocation."), "allocation.exact");
    if (al.contains("note")) a.note = f.string(al["note"], "allocation.note");
    const json& ls = f.array(f.require(al, "layers", "allocation."), "allocation.layers");
    seen.clear();
    for (size_t i = 0; i < ls.size(); ++i) {
      const std::string fld = JsonFields::index("allocation.layers", i);
      f.object(ls[i], fld);
      f.reject_unknown_keys(ls[i], {"layer", "weight_bits", "activation_bits", "weight_count", "activation_count"}, fld + ".");
      LayerAllocation l;
      l.layer = f.string(f.require(ls[i], "layer", fld + "."), fld + ".layer");
      reject_duplicate(f, seen, l.layer, fld + ".layer");
      l.weight_bits = static_cast<int>(f.integer(f.require(ls[i], "weight_bits", fld + "."), fld + ".weight_bits", 0, 8));
      if (l.weight_bits == 1) f.fail(fld + ".weight_bits", "must be 0 (no weight) or 2..8");
      l.activation_bits = static_cast<int>(f.integer(f.require(ls[i], "activation_bits", fld + "."), fld + ".activation_bits", 2, 8));
      l.weight_count = f.integer(f.require(ls[i], "weight_count", fld + "."), fld + ".weight_count", 0, int64_t{1} << 40);
      l.activation_count = f.integer(f.require(ls[i], "activation_count", fld + "."), fld + ".activation_count", 0, int64_t{1} << 40);
      a.layers.push_back(std::move(l));
    }
    r.allocation = std::move(a);
  }
  return r;
}

CalibrationResult load_calibration_result(const std::string& path) {
  return parse_calibration_result(JsonFields::read_file(path), path);
}

std::string file_sha256(const std::string& path) { return sha256_hex(JsonFields::read_file(path)); }

}  // namespace qvit
