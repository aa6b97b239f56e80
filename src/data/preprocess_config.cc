#include "data/preprocess_config.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/json_fields.h"

namespace qvit::data {
namespace {

using nlohmann::json;

// Largest input side we accept: far above any ViT input, small enough that a typo cannot make
// the loader allocate gigabytes.
constexpr int kMaxSide = 16384;

// Config-specific field readers on top of the shared strict JSON reader (one-line errors
// `<file>: field "<name>": <problem>`, unknown keys rejected).
class FieldChecker : public qvit::JsonFields {
 public:
  using JsonFields::JsonFields;

  int positive_int(const json& v, const std::string& field, int max_value) const {
    if (!v.is_number_integer()) fail(field, "expected a positive integer, got " + echo(v));
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max_value))
      fail(field, echo(v) + " is too large (at most " + std::to_string(max_value) + ")");
    int64_t x = v.get<int64_t>();
    if (x <= 0) fail(field, "must be positive, got " + std::to_string(x));
    if (x > max_value) fail(field, std::to_string(x) + " is too large (at most " + std::to_string(max_value) + ")");
    return static_cast<int>(x);
  }

  double finite_number(const json& v, const std::string& field) const {
    if (!v.is_number()) fail(field, "expected a number, got " + echo(v));
    double x = v.get<double>();
    if (!std::isfinite(x)) fail(field, "must be finite");
    return x;
  }

  std::string string_or_empty(const json& v, const std::string& field) const {
    if (v.is_null()) return {};
    if (!v.is_string()) fail(field, "expected a string, got " + echo(v));
    return v.get<std::string>();
  }

  std::vector<double> per_channel(const json& v, const std::string& field, int channels) const {
    if (!v.is_array()) fail(field, "expected an array of " + std::to_string(channels) + " numbers, got " + echo(v));
    if (static_cast<int>(v.size()) != channels)
      fail(field, "has " + std::to_string(v.size()) + " values but input.channels is " + std::to_string(channels));
    std::vector<double> out;
    for (size_t i = 0; i < v.size(); ++i) out.push_back(finite_number(v[i], field + "[" + std::to_string(i) + "]"));
    return out;
  }
};

Interpolation parse_interpolation(const FieldChecker& check, const json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "bilinear") return Interpolation::Bilinear;
    if (s == "bicubic") return Interpolation::Bicubic;
    if (s == "nearest") return Interpolation::Nearest;
  }
  check.fail("interpolation", "unknown interpolation " + qvit::JsonFields::echo(v) + " (use \"bilinear\", \"bicubic\" or \"nearest\")");
}

std::optional<CropSize> parse_center_crop(const FieldChecker& check, const json& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_number_integer()) {
    int n = check.positive_int(v, "center_crop", kMaxSide);
    return CropSize{n, n};
  }
  if (v.is_array() && v.size() == 2) {
    return CropSize{check.positive_int(v[0], "center_crop[0]", kMaxSide),
                    check.positive_int(v[1], "center_crop[1]", kMaxSide)};
  }
  check.fail("center_crop", "expected null, an integer or [height, width], got " + qvit::JsonFields::echo(v));
}

void parse_input(const FieldChecker& check, const json& input, PreprocessConfig& cfg) {
  if (!input.is_object())
    check.fail("input", "expected an object {\"channels\", \"height\", \"width\", \"layout\"}, got " + qvit::JsonFields::echo(input));
  check.reject_unknown_keys(input, {"channels", "height", "width", "layout"}, "input.");
  const json& channels = check.require(input, "channels", "input.");
  if (!channels.is_number_integer() || (channels.get<int64_t>() != 1 && channels.get<int64_t>() != 3))
    check.fail("input.channels", "must be 1 (grayscale) or 3 (RGB), got " + qvit::JsonFields::echo(channels));
  cfg.channels = channels.get<int>();
  cfg.height = check.positive_int(check.require(input, "height", "input."), "input.height", kMaxSide);
  cfg.width = check.positive_int(check.require(input, "width", "input."), "input.width", kMaxSide);
  if (auto it = input.find("layout"); it != input.end()) {
    if (*it == "NCHW") cfg.layout = Layout::NCHW;
    else if (*it == "NHWC") cfg.layout = Layout::NHWC;
    else check.fail("input.layout", "must be \"NCHW\" or \"NHWC\", got " + check.echo(*it));
  }
}

// The pipeline must be able to produce the model's input size, or every image would fail later.
void check_output_geometry(const FieldChecker& check, const PreprocessConfig& cfg) {
  const std::string input_size = std::to_string(cfg.height) + "x" + std::to_string(cfg.width);
  if (cfg.center_crop) {
    if (cfg.center_crop->height != cfg.height || cfg.center_crop->width != cfg.width)
      check.fail("center_crop", std::to_string(cfg.center_crop->height) + "x" + std::to_string(cfg.center_crop->width) +
                                    " does not match the input size " + input_size + " (height x width)");
  } else if (cfg.resize && (*cfg.resize != cfg.height || *cfg.resize != cfg.width)) {
    check.fail("resize", "without center_crop, resizing the shorter side to " + std::to_string(*cfg.resize) +
                             " cannot produce the input size " + input_size + "; add \"center_crop\"");
  }
}

}  // namespace

const char* layout_name(Layout l) { return l == Layout::NCHW ? "NCHW" : "NHWC"; }

PreprocessConfig parse_preprocess_config(const std::string& json_text, const std::string& source) {
  FieldChecker check(source);
  const json root = check.parse(json_text, /*allow_comments=*/true);
  if (!root.is_object()) check.fail_file("expected a JSON object at the top level");

  check.reject_unknown_keys(root,
                            {"format", "name", "model", "input", "resize", "center_crop", "interpolation",
                             "pixel_scale", "mean", "std", "num_classes", "class_names", "default_data",
                             "default_split", "default_calib"},
                            "");

  const json& format = check.require(root, "format", "");
  if (!format.is_string() || format.get<std::string>() != kPreprocessConfigFormat)
    check.fail("format", "unknown format " + qvit::JsonFields::echo(format) + " (this build reads \"" + kPreprocessConfigFormat + "\")");

  PreprocessConfig cfg;
  cfg.name = check.string_or_empty(root.value("name", json()), "name");
  if (auto it = root.find("model"); it != root.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string m = check.string_or_empty((*it)[i], "model[" + std::to_string(i) + "]");
      if (m.empty()) check.fail("model[" + std::to_string(i) + "]", "expected a model file name");
      cfg.models.push_back(m);
    }
  } else if (const std::string m = check.string_or_empty(root.value("model", json()), "model"); !m.empty()) {
    cfg.models.push_back(m);
  }
  parse_input(check, check.require(root, "input", ""), cfg);

  if (auto it = root.find("resize"); it != root.end() && !it->is_null())
    cfg.resize = check.positive_int(*it, "resize", kMaxSide);
  if (auto it = root.find("center_crop"); it != root.end()) cfg.center_crop = parse_center_crop(check, *it);
  if (auto it = root.find("interpolation"); it != root.end()) cfg.interpolation = parse_interpolation(check, *it);

  if (auto it = root.find("pixel_scale"); it != root.end()) {
    cfg.pixel_scale = check.finite_number(*it, "pixel_scale");
    if (cfg.pixel_scale <= 0) check.fail("pixel_scale", "must be positive, got " + check.echo(*it));
  }
  cfg.mean = check.per_channel(check.require(root, "mean", ""), "mean", cfg.channels);
  cfg.std = check.per_channel(check.require(root, "std", ""), "std", cfg.channels);
  for (size_t i = 0; i < cfg.std.size(); ++i)
    if (!(cfg.std[i] > 0))
      check.fail("std[" + std::to_string(i) + "]", "must be positive, got " + qvit::JsonFields::echo(root["std"][i]));

  cfg.num_classes = check.positive_int(check.require(root, "num_classes", ""), "num_classes", 1 << 24);
  if (auto it = root.find("class_names"); it != root.end() && !it->is_null()) {
    if (!it->is_array()) check.fail("class_names", "expected an array of strings, got " + check.echo(*it));
    if (static_cast<int>(it->size()) != cfg.num_classes)
      check.fail("class_names", "has " + std::to_string(it->size()) + " names but num_classes is " +
                                    std::to_string(cfg.num_classes));
    for (size_t i = 0; i < it->size(); ++i) {
      const json& class_name = (*it)[i];
      if (!class_name.is_string())
        check.fail("class_names[" + std::to_string(i) + "]", "expected a string, got " + qvit::JsonFields::echo(class_name));
      cfg.class_names.push_back(class_name.get<std::string>());
    }
  }

  cfg.default_data = check.string_or_empty(root.value("default_data", json()), "default_data");
  cfg.default_split = check.string_or_empty(root.value("default_split", json()), "default_split");
  cfg.default_calib = check.string_or_empty(root.value("default_calib", json()), "default_calib");

  check_output_geometry(check, cfg);
  return cfg;
}

PreprocessConfig load_preprocess_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw qvit::Error(path.string() + ": cannot open config file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw qvit::Error(path.string() + ": cannot read config file");
  PreprocessConfig cfg = parse_preprocess_config(text.str(), path.string());
  if (cfg.name.empty()) cfg.name = path.stem().string();
  return cfg;
}

}  // namespace qvit::data
