// Boundary metadata of an .int.onnx file (int_onnx_metadata.h). Every value read here reaches the
// runtime's boundary arithmetic (quantize() of the image, the per-channel output scaling), so each
// is range-checked as strictly as a calibration file is (JsonFields: kinds, ranges, unknown keys).
#include "onnx/int_onnx_metadata.h"

#include <cmath>

#include "kernels/kernel_bounds.h"
#include "onnx/int_onnx_export.h"
#include "onnx/onnx_proto_util.h"
#include "util/json_fields.h"
#include "util/limits.h"

namespace qvit::onnx_util {

namespace {

using nlohmann::json;

// Output scales are products of calibration scales (each in [1e-30, 1e30]) and powers of two.
constexpr double kMinOutputScale = 1e-300, kMaxOutputScale = 1e300;

std::string where_of(const std::string& path, const std::string& key) { return path + ": metadata '" + key + "'"; }

// The metadata value of `key` parsed as JSON (null when absent and not required).
json metadata_json(const onnx::ModelProto& m, const std::string& key, const std::string& path, bool required) {
  const std::string* v = find_metadata(m, key);
  if (!v) {
    if (required) throw Error(where_of(path, key) + " is missing");
    return nullptr;
  }
  return JsonFields(where_of(path, key)).parse(*v);
}


QuantParams read_input(const json& j, const std::string& where) {
  const JsonFields f(where);
  f.object(j, "qvit.input");
  f.reject_unknown_keys(j, {"scheme", "bits", "scale", "zero_point"}, "");
  QuantParams p;
  // The image is quantized with quantize() − zero_point: a uniform grid.
  p.scheme = scheme_from_name(f.choice(f.require(j, "scheme", ""), "scheme", {"asymmetric", "symmetric"}));
  p.bits = static_cast<int>(f.integer(f.require(j, "bits", ""), "bits", kMinQuantBits, kMaxQuantBits));
  p.scale = static_cast<float>(f.number(f.require(j, "scale", ""), "scale", kMinQuantScale, kMaxQuantScale));
  const int64_t zp_max = p.scheme == QuantScheme::Asymmetric ? (int64_t{1} << p.bits) - 1 : 0;
  p.zero_point = static_cast<int32_t>(f.integer(f.require(j, "zero_point", ""), "zero_point", 0, zp_max));
  return p;
}

std::vector<LoweredModel::OutputScale> read_outputs(const json& j, const std::string& where) {
  const JsonFields f(where);
  f.array(j, "qvit.outputs");
  std::vector<LoweredModel::OutputScale> outs;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string fld = JsonFields::index("", i);
    f.object(j[i], fld);
    f.reject_unknown_keys(j[i], {"scales", "axis"}, fld + ".");
    LoweredModel::OutputScale o;
    const json& scales = f.array(f.require(j[i], "scales", fld + "."), fld + ".scales");
    for (size_t k = 0; k < scales.size(); ++k) o.scales.push_back(f.number(scales[k], JsonFields::index(fld + ".scales", k), kMinOutputScale, kMaxOutputScale));
    if (o.scales.empty()) f.fail(fld + ".scales", "no scales (one, or one per channel)");
    o.axis = static_cast<int>(f.integer(f.require(j[i], "axis", fld + "."), fld + ".axis", -64, 63));
    outs.push_back(std::move(o));
  }
  return outs;
}

std::vector<KernelBoundRecord> read_bounds(const json& j, const std::string& where) {
  const JsonFields f(where);
  f.array(j, "qvit.kernel_bounds");
  std::vector<KernelBoundRecord> bounds;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string fld = JsonFields::index("", i);
    f.object(j[i], fld);
    f.reject_unknown_keys(j[i], {"node", "kernel", "stage", "worst_abs", "fits_int32"}, fld + ".");
    KernelBoundRecord b;
    b.node = f.string(f.require(j[i], "node", fld + "."), fld + ".node");
    b.kernel = f.string(f.require(j[i], "kernel", fld + "."), fld + ".kernel");
    b.stage = f.string(f.require(j[i], "stage", fld + "."), fld + ".stage");
    b.worst_abs = f.number(f.require(j[i], "worst_abs", fld + "."), fld + ".worst_abs", 0, 1e300);
    b.fits = f.boolean(f.require(j[i], "fits_int32", fld + "."), fld + ".fits_int32");
    bounds.push_back(std::move(b));
  }
  return bounds;
}

}  // namespace

void add_boundary_metadata(onnx::ModelProto& m, const LoweredModel& lm) {
  auto quant_params_json = [](const QuantParams& p) -> json {
    return {{"scheme", scheme_name(p.scheme)}, {"bits", p.bits}, {"scale", static_cast<double>(p.scale)}, {"zero_point", p.zero_point}};
  };
  add_metadata(m, kIntOnnxFormatKey, kIntOnnxFormat);
  add_metadata(m, "qvit.input", quant_params_json(lm.input).dump());
  json outs = json::array();
  for (const auto& o : lm.outputs) outs.push_back({{"scales", o.scales}, {"axis", o.axis}});
  add_metadata(m, "qvit.outputs", outs.dump());
  add_metadata(m, "qvit.nonlinear", nonlinear_family_name(lm.family));
  json bounds = json::array();
  for (const auto& b : lm.bounds)
    bounds.push_back({{"node", b.node}, {"kernel", b.kernel}, {"stage", b.stage}, {"worst_abs", b.worst_abs}, {"fits_int32", b.fits}});
  add_metadata(m, "qvit.kernel_bounds", bounds.dump());
}

void read_boundary_metadata(const onnx::ModelProto& m, const std::string& path, LoweredModel& lm) {
  const std::string* family = find_metadata(m, "qvit.nonlinear");
  if (!family) throw Error(where_of(path, "qvit.nonlinear") + " is missing");
  try {
    lm.family = nonlinear_family_from_name(*family);
  } catch (const Error&) {
    throw Error(where_of(path, "qvit.nonlinear") + ": '" + clip_for_message(*family) + "' is not shift, poly or int32safe");
  }
  lm.input = read_input(metadata_json(m, "qvit.input", path, true), where_of(path, "qvit.input"));
  lm.outputs = read_outputs(metadata_json(m, "qvit.outputs", path, true), where_of(path, "qvit.outputs"));
  // Optional: files written before the range proof was recorded lack it.
  if (const json b = metadata_json(m, "qvit.kernel_bounds", path, false); !b.is_null())
    lm.bounds = read_bounds(b, where_of(path, "qvit.kernel_bounds"));
  check_boundary(lm, path);
}

void check_boundary(const LoweredModel& lm, const std::string& source) {
  const Graph& g = lm.graph;
  if (const std::string problem = quant_params_problem(lm.input); !problem.empty())
    throw Error(where_of(source, "qvit.input") + ": " + problem);
  if (lm.input.scheme == QuantScheme::LogSqrt2) throw Error(where_of(source, "qvit.input") + ": a log-sqrt2 grid cannot quantize an image");
  const std::string outputs = where_of(source, "qvit.outputs");
  if (lm.outputs.size() != g.outputs.size())
    throw Error(outputs + ": lists " + std::to_string(lm.outputs.size()) + " outputs, the graph has " + std::to_string(g.outputs.size()));
  for (size_t i = 0; i < lm.outputs.size(); ++i) {
    const auto& o = lm.outputs[i];
    const Shape& s = g.value(g.outputs[i]).shape;
    const std::string fld = outputs + ": output " + std::to_string(i);
    if (o.scales.empty()) throw Error(fld + " has no scales");
    for (double sc : o.scales)
      if (!(sc >= kMinOutputScale && sc <= kMaxOutputScale))
        throw Error(fld + ": scale " + std::to_string(sc) + " is not a positive finite number");
    if (o.scales.size() > 1 && (o.axis < 0 || o.axis >= static_cast<int>(s.size()) ||
                                s[static_cast<size_t>(o.axis)] != static_cast<int64_t>(o.scales.size())))
      throw Error(fld + ": " + std::to_string(o.scales.size()) + " per-channel scales along axis " + std::to_string(o.axis) +
                  " do not match the output shape " + shape_str(s));
  }
  for (size_t i = 0; i < lm.bounds.size(); ++i) {
    const KernelBoundRecord& b = lm.bounds[i];
    const std::string fld = where_of(source, "qvit.kernel_bounds") + ": record " + std::to_string(i) + " (" +
                            clip_for_message(b.node) + ", " + clip_for_message(b.kernel) + ")";
    if (!(b.worst_abs >= 0 && std::isfinite(b.worst_abs))) throw Error(fld + ": worst_abs is not a finite magnitude");
    if (b.fits != kernels::fits_int32(b.worst_abs))
      throw Error(fld + ": fits_int32 = " + (b.fits ? "true" : "false") + " contradicts worst_abs = " + std::to_string(b.worst_abs));
    // The int32-safe lowering refuses any layer whose bound leaves int32: such a record is not its.
    if (!b.fits && lm.family == NonlinearFamily::Int32Safe)
      throw Error(fld + ": an int32safe model cannot have a kernel bound past int32");
  }
}

std::map<std::string, Shape> read_int4_metadata(const onnx::ModelProto& m, const std::string& key, const std::string& path) {
  std::map<std::string, Shape> int4;
  const json j = metadata_json(m, key, path, false);
  if (j.is_null()) return int4;
  const JsonFields f(where_of(path, key));
  f.object(j, key);
  for (const auto& [name, shape] : j.items()) {
    f.array(shape, name);
    Shape s;
    for (size_t i = 0; i < shape.size(); ++i) s.push_back(f.integer(shape[i], JsonFields::index(name, i), 0, INT32_MAX));
    shape_numel(s);  // (throws if the count overflows)
    int4[name] = std::move(s);
  }
  return int4;
}

}  // namespace qvit::onnx_util
