#include "calib/calibration_result.h"

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_fields.h"
#include "util/sha256.h"

namespace qvit {

using nlohmann::json;

namespace {

json params_json(const QuantParams& p) {
  return {{"scheme", scheme_name(p.scheme)}, {"bits", p.bits}, {"scale", p.scale}, {"zero_point", p.zero_point}};
}

QuantParams params_from(const JsonFields& f, const json& j, const std::string& field) {
  if (!j.is_object()) f.fail(field, "expected an object");
  f.reject_unknown_keys(j, {"scheme", "bits", "scale", "zero_point"}, field + ".");
  QuantParams p;
  try {
    p.scheme = scheme_from_name(f.string(f.require(j, "scheme", field + "."), field + ".scheme"));
  } catch (const Error& e) {
    f.fail(field + ".scheme", e.what());
  }
  p.bits = static_cast<int>(f.integer(f.require(j, "bits", field + "."), field + ".bits", 2, 16));
  p.scale = static_cast<float>(f.number(f.require(j, "scale", field + "."), field + ".scale", 1e-30, 1e30));
  p.zero_point = static_cast<int32_t>(f.integer(f.require(j, "zero_point", field + "."), field + ".zero_point", p.qmin(), p.qmax()));
  return p;
}

std::vector<float> floats_from(const JsonFields& f, const json& j, const std::string& field) {
  if (!j.is_array()) f.fail(field, "expected an array of numbers");
  std::vector<float> v;
  for (size_t i = 0; i < j.size(); ++i) v.push_back(static_cast<float>(f.number(j[i], field + "[" + std::to_string(i) + "]", -1e30, 1e30)));
  return v;
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
  return j.dump(1) + "\n";
}

void CalibrationResult::save(const std::string& path) const { write_file_atomic(path, to_json()); }

CalibrationResult parse_calibration_result(const std::string& text, const std::string& source) {
  const JsonFields f(source);
  const json j = f.parse(text);
  if (!j.is_object()) f.fail_file("a calibration result must be a JSON object");
  const std::string format = f.string(f.require(j, "format", ""), "format");
  if (format != kCalibFormat) f.fail("format", "unsupported calibration format \"" + format + "\" (this qvit reads \"" + kCalibFormat + "\")");
  f.reject_unknown_keys(j, {"format", "model", "model_sha256", "recipe", "samples", "sample_ids", "reparams", "weights", "activations", "softmax"}, "");
  CalibrationResult r;
  r.model = f.string(f.require(j, "model", ""), "model");
  r.model_sha256 = f.string(f.require(j, "model_sha256", ""), "model_sha256");
  r.recipe = parse_recipe(f.require_object(j, "recipe", "").dump(), source + " (recipe)");
  r.samples = f.integer(f.require(j, "samples", ""), "samples", 0, int64_t{1} << 40);
  for (const auto& id : f.require(j, "sample_ids", "")) r.sample_ids.push_back(f.string(id, "sample_ids[]"));
  const json& rp = f.require(j, "reparams", "");
  for (size_t i = 0; i < rp.size(); ++i) {
    const std::string fld = "reparams[" + std::to_string(i) + "]";
    f.reject_unknown_keys(rp[i], {"layernorm", "consumers", "r1", "offset"}, fld + ".");
    LayerNormReparam p;
    p.layernorm = f.string(f.require(rp[i], "layernorm", fld + "."), fld + ".layernorm");
    for (const auto& c : f.require(rp[i], "consumers", fld + ".")) p.consumers.push_back(f.string(c, fld + ".consumers[]"));
    p.r1 = floats_from(f, f.require(rp[i], "r1", fld + "."), fld + ".r1");
    p.offset = floats_from(f, f.require(rp[i], "offset", fld + "."), fld + ".offset");
    if (p.r1.size() != p.offset.size()) f.fail(fld + ".offset", "length differs from r1");
    for (float v : p.r1)
      if (!(v > 0)) f.fail(fld + ".r1", "factors must be positive");
    r.reparams.push_back(std::move(p));
  }
  const json& ws = f.require(j, "weights", "");
  for (size_t i = 0; i < ws.size(); ++i) {
    const std::string fld = "weights[" + std::to_string(i) + "]";
    f.reject_unknown_keys(ws[i], {"node", "scheme", "bits", "axis", "scale", "zero_point"}, fld + ".");
    WeightQuant w;
    w.node = f.string(f.require(ws[i], "node", fld + "."), fld + ".node");
    w.params.scheme = f.choice(f.require(ws[i], "scheme", fld + "."), fld + ".scheme", {"symmetric", "asymmetric"}) == "symmetric"
                          ? QuantScheme::Symmetric : QuantScheme::Asymmetric;
    w.params.bits = static_cast<int>(f.integer(f.require(ws[i], "bits", fld + "."), fld + ".bits", 2, 8));
    w.params.axis = static_cast<int>(f.integer(f.require(ws[i], "axis", fld + "."), fld + ".axis", 0, 8));
    w.params.scale = floats_from(f, f.require(ws[i], "scale", fld + "."), fld + ".scale");
    for (const auto& z : f.require(ws[i], "zero_point", fld + ".")) w.params.zero_point.push_back(static_cast<int32_t>(f.integer(z, fld + ".zero_point[]", -128, 255)));
    for (float s : w.params.scale)
      if (!(s > 0)) f.fail(fld + ".scale", "scales must be positive");
    r.weights.push_back(std::move(w));
  }
  const json& as = f.require(j, "activations", "");
  for (size_t i = 0; i < as.size(); ++i) {
    const std::string fld = "activations[" + std::to_string(i) + "]";
    f.reject_unknown_keys(as[i], {"value", "role", "params", "observed_min", "observed_max"}, fld + ".");
    ActivationQuant a;
    a.value = f.string(f.require(as[i], "value", fld + "."), fld + ".value");
    a.role = f.string(f.require(as[i], "role", fld + "."), fld + ".role");
    a.params = params_from(f, f.require(as[i], "params", fld + "."), fld + ".params");
    a.observed_min = static_cast<float>(f.number(f.require(as[i], "observed_min", fld + "."), fld + ".observed_min", -1e38, 1e38));
    a.observed_max = static_cast<float>(f.number(f.require(as[i], "observed_max", fld + "."), fld + ".observed_max", -1e38, 1e38));
    r.activations.push_back(std::move(a));
  }
  if (j.contains("softmax")) {
    const json& sm = j["softmax"];
    if (!sm.is_array()) f.fail("softmax", "expected an array");
    for (size_t i = 0; i < sm.size(); ++i) {
      const std::string fld = "softmax[" + std::to_string(i) + "]";
      f.reject_unknown_keys(sm[i], {"node", "cols", "m_star", "output_oriented", "smallest_gap", "mse_best", "mse"}, fld + ".");
      SoftmaxMStar m;
      m.node = f.string(f.require(sm[i], "node", fld + "."), fld + ".node");
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
  return r;
}

CalibrationResult load_calibration_result(const std::string& path) {
  return parse_calibration_result(JsonFields::read_file(path), path);
}

std::string file_sha256(const std::string& path) { return sha256_hex(JsonFields::read_file(path)); }

}  // namespace qvit
