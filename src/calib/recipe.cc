#include "calib/recipe.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "util/error.h"
#include "util/json_fields.h"

namespace qvit {

using nlohmann::json;

const char* observer_name(ObserverKind k) {
  switch (k) {
    case ObserverKind::MinMax: return "minmax";
    case ObserverKind::Percentile: return "percentile";
    case ObserverKind::Mse: return "mse";
  }
  return "?";
}

const char* post_layernorm_name(PostLayerNormMode m) {
  switch (m) {
    case PostLayerNormMode::LayerWise: return "layerwise";
    case PostLayerNormMode::Reparam: return "reparam";
    case PostLayerNormMode::ClippedReparam: return "crl";
  }
  return "?";
}

bool glob_match(const std::string& p, const std::string& t) {
  size_t pi = 0, ti = 0, star = std::string::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

int Recipe::weight_bits_for(const std::string& node) const {
  int bits = weight_bits;
  for (const auto& o : layers)
    if (o.weight_bits && glob_match(o.pattern, node)) bits = *o.weight_bits;
  return bits;
}

int Recipe::activation_bits_for(const std::string& node) const {
  int bits = activation_bits;
  for (const auto& o : layers)
    if (o.activation_bits && glob_match(o.pattern, node)) bits = *o.activation_bits;
  return bits;
}

namespace {
ObserverKind observer_from(const JsonFields& f, const json& v, const std::string& field) {
  const std::string s = f.choice(v, field, {"minmax", "percentile", "mse"});
  return s == "minmax" ? ObserverKind::MinMax : s == "percentile" ? ObserverKind::Percentile : ObserverKind::Mse;
}
}  // namespace

Recipe parse_recipe(const std::string& text, const std::string& source) {
  const JsonFields f(source);
  const json j = f.parse(text);
  if (!j.is_object()) f.fail_file("a recipe must be a JSON object");
  f.reject_unknown_keys(j, {"format", "name", "description", "weights", "activations", "softmax", "post_layernorm", "samples", "nonlinear", "nonlinear_input_bits", "layers", "allocation"}, "");
  if (f.string(f.require(j, "format", ""), "format") != kRecipeFormat)
    f.fail("format", "unsupported recipe format " + f.echo(j["format"]) + " (expected \"" + kRecipeFormat + "\")");
  Recipe r;
  r.name = f.string(f.require(j, "name", ""), "name");
  const json& w = f.require_object(j, "weights", "");
  f.reject_unknown_keys(w, {"bits", "observer"}, "weights.");
  r.weight_bits = static_cast<int>(f.integer(f.require(w, "bits", "weights."), "weights.bits", 2, 8));
  if (w.contains("observer")) {
    r.weight_observer = observer_from(f, w["observer"], "weights.observer");
    if (r.weight_observer == ObserverKind::Percentile) f.fail("weights.observer", "weights use minmax or mse");
  }
  const json& a = f.require_object(j, "activations", "");
  f.reject_unknown_keys(a, {"bits", "observer", "percentile"}, "activations.");
  r.activation_bits = static_cast<int>(f.integer(f.require(a, "bits", "activations."), "activations.bits", 2, 8));
  if (a.contains("observer")) r.activation_observer = observer_from(f, a["observer"], "activations.observer");
  if (a.contains("percentile")) {
    const json& p = a["percentile"];
    if (!p.is_array() || p.size() != 2) f.fail("activations.percentile", "expected [lower, upper] in percent, got " + f.echo(p));
    r.percentile_low = f.number(p[0], "activations.percentile[0]", 0.0, 50.0);
    r.percentile_high = f.number(p[1], "activations.percentile[1]", 50.0, 100.0);
    if (!(r.percentile_low < r.percentile_high)) f.fail("activations.percentile", "lower must be below upper");
  }
  if (j.contains("softmax")) {
    const json& s = j["softmax"];
    if (!s.is_object()) f.fail("softmax", "expected an object");
    f.reject_unknown_keys(s, {"quantizer", "bits", "m_star"}, "softmax.");
    if (s.contains("quantizer")) r.softmax_log_sqrt2 = f.choice(s["quantizer"], "softmax.quantizer", {"uniform", "log_sqrt2"}) == "log_sqrt2";
    if (s.contains("m_star")) {
      if (s["m_star"].is_number()) {
        r.m_star_rule = "fixed";
        r.m_star_fixed = static_cast<int>(f.integer(s["m_star"], "softmax.m_star", 1, 30));
      } else {
        r.m_star_rule = f.choice(s["m_star"], "softmax.m_star", {"output", "gap", "mse"});
      }
    }
    r.softmax_bits = s.contains("bits") ? static_cast<int>(f.integer(s["bits"], "softmax.bits", 2, 8)) : r.activation_bits;
  } else {
    r.softmax_bits = r.activation_bits;
  }
  if (j.contains("post_layernorm")) {
    const json& p = j["post_layernorm"];
    if (!p.is_object()) f.fail("post_layernorm", "expected an object");
    f.reject_unknown_keys(p, {"mode", "clip_k"}, "post_layernorm.");
    const std::string m = f.choice(f.require(p, "mode", "post_layernorm."), "post_layernorm.mode", {"layerwise", "reparam", "crl"});
    r.post_layernorm = m == "layerwise" ? PostLayerNormMode::LayerWise : m == "reparam" ? PostLayerNormMode::Reparam : PostLayerNormMode::ClippedReparam;
    if (p.contains("clip_k")) {
      if (r.post_layernorm != PostLayerNormMode::ClippedReparam) f.fail("post_layernorm.clip_k", "only used with mode \"crl\"");
      r.clip_k = f.number(p["clip_k"], "post_layernorm.clip_k", 0.1, 100.0);
    }
  }
  if (j.contains("samples")) r.samples = static_cast<int>(f.integer(j["samples"], "samples", 1, 100000));
  if (j.contains("nonlinear")) r.nonlinear = f.choice(j["nonlinear"], "nonlinear", {"shift", "poly", "int32safe"});
  if (j.contains("nonlinear_input_bits"))
    r.nonlinear_input_bits = static_cast<int>(f.integer(j["nonlinear_input_bits"], "nonlinear_input_bits", 2, 9));
  if (j.contains("layers")) {
    if (!j["layers"].is_array()) f.fail("layers", "expected an array of {pattern, weight_bits?, activation_bits?}");
    for (size_t i = 0; i < j["layers"].size(); ++i) {
      const json& l = j["layers"][i];
      const std::string pre = "layers[" + std::to_string(i) + "].";
      if (!l.is_object()) f.fail("layers[" + std::to_string(i) + "]", "expected an object");
      f.reject_unknown_keys(l, {"pattern", "weight_bits", "activation_bits"}, pre);
      LayerBitsOverride o;
      o.pattern = f.string(f.require(l, "pattern", pre), pre + "pattern");
      if (l.contains("weight_bits")) o.weight_bits = static_cast<int>(f.integer(l["weight_bits"], pre + "weight_bits", 2, 8));
      if (l.contains("activation_bits")) o.activation_bits = static_cast<int>(f.integer(l["activation_bits"], pre + "activation_bits", 2, 8));
      if (!o.weight_bits && !o.activation_bits) f.fail(pre + "pattern", "override sets neither weight_bits nor activation_bits");
      r.layers.push_back(o);
    }
  }
  if (j.contains("allocation")) {
    const json& al = f.object(j["allocation"], "allocation");
    f.reject_unknown_keys(al, {"scorer", "widths", "weight_budget", "activation_budget", "high_precision_blocks", "sensitivity_bits"},
                          "allocation.");
    AllocationRecipe& A = r.allocation;
    A.enabled = true;
    if (al.contains("scorer")) A.scorer = f.choice(al["scorer"], "allocation.scorer", {"lrp", "gradient", "sensitivity", "uniform"});
    if (al.contains("widths")) {
      const json& w = f.array(al["widths"], "allocation.widths");
      if (w.empty()) f.fail("allocation.widths", "expected at least one bit width");
      A.widths.clear();
      for (size_t i = 0; i < w.size(); ++i) A.widths.push_back(static_cast<int>(f.integer(w[i], JsonFields::index("allocation.widths", i), 2, 8)));
      std::sort(A.widths.begin(), A.widths.end());
      A.widths.erase(std::unique(A.widths.begin(), A.widths.end()), A.widths.end());
    }
    A.weight_budget = al.contains("weight_budget") ? f.number(al["weight_budget"], "allocation.weight_budget", 2, 8) : r.weight_bits;
    A.activation_budget =
        al.contains("activation_budget") ? f.number(al["activation_budget"], "allocation.activation_budget", 2, 8) : r.activation_bits;
    if (al.contains("high_precision_blocks"))
      A.high_precision_blocks = static_cast<int>(f.integer(al["high_precision_blocks"], "allocation.high_precision_blocks", 0, 1000));
    if (al.contains("sensitivity_bits"))
      A.sensitivity_bits = static_cast<int>(f.integer(al["sensitivity_bits"], "allocation.sensitivity_bits", 2, 8));
    for (double b : {A.weight_budget, A.activation_budget})
      if (b < A.widths.front() || b > A.widths.back())
        f.fail("allocation", "budget " + std::to_string(b) + " is outside the allowed widths [" + std::to_string(A.widths.front()) +
                                 ", " + std::to_string(A.widths.back()) + "]");
  }
  return r;
}

Recipe load_recipe(const std::string& path_or_name) {
  namespace fs = std::filesystem;
  if (fs::exists(path_or_name) || path_or_name.find('/') != std::string::npos || path_or_name.ends_with(".json"))
    return parse_recipe(JsonFields::read_file(path_or_name), path_or_name);
  // A bare name: a bundled recipe, from ./configs/recipes or the source tree's.
  const std::vector<fs::path> dirs = {fs::current_path() / "configs" / "recipes", fs::path(QVIT_SOURCE_DIR) / "configs" / "recipes"};
  for (const auto& dir : dirs)
    if (fs::is_regular_file(dir / (path_or_name + ".json")))
      return parse_recipe(JsonFields::read_file((dir / (path_or_name + ".json")).string()), (dir / (path_or_name + ".json")).string());
  std::set<std::string> names;
  for (const auto& dir : dirs)
    if (fs::is_directory(dir))
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".json") names.insert(e.path().stem().string());
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw Error("recipe '" + path_or_name + "': no such file and no bundled recipe of that name (bundled: " +
              (list.empty() ? std::string("none found") : list) + ")");
}

std::string recipe_to_json(const Recipe& r) {
  json j;
  j["format"] = kRecipeFormat;
  j["name"] = r.name;
  j["weights"] = {{"bits", r.weight_bits}, {"observer", observer_name(r.weight_observer)}};
  j["activations"] = {{"bits", r.activation_bits}, {"observer", observer_name(r.activation_observer)},
                      {"percentile", {r.percentile_low, r.percentile_high}}};
  j["softmax"] = {{"quantizer", r.softmax_log_sqrt2 ? "log_sqrt2" : "uniform"}, {"bits", r.softmax_bits}};
  if (r.m_star_rule == "fixed") j["softmax"]["m_star"] = r.m_star_fixed;
  else j["softmax"]["m_star"] = r.m_star_rule;
  j["post_layernorm"] = {{"mode", post_layernorm_name(r.post_layernorm)}};
  if (r.post_layernorm == PostLayerNormMode::ClippedReparam) j["post_layernorm"]["clip_k"] = r.clip_k;
  j["samples"] = r.samples;
  j["nonlinear"] = r.nonlinear;
  j["nonlinear_input_bits"] = r.nonlinear_input_bits;
  json layers = json::array();
  for (const auto& o : r.layers) {
    json l = {{"pattern", o.pattern}};
    if (o.weight_bits) l["weight_bits"] = *o.weight_bits;
    if (o.activation_bits) l["activation_bits"] = *o.activation_bits;
    layers.push_back(l);
  }
  if (!layers.empty()) j["layers"] = layers;
  if (r.allocation.enabled) {
    const AllocationRecipe& A = r.allocation;
    j["allocation"] = {{"scorer", A.scorer},
                       {"widths", A.widths},
                       {"weight_budget", A.weight_budget},
                       {"activation_budget", A.activation_budget},
                       {"high_precision_blocks", A.high_precision_blocks},
                       {"sensitivity_bits", A.sensitivity_bits}};
  }
  return j.dump(2);
}

}  // namespace qvit
