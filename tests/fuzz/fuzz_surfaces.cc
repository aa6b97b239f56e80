#include "fuzz/fuzz_surfaces.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "calib/calibration_result.h"
#include "calib/quant_plan.h"
#include "calib/recipe.h"
#include "data/idx_file.h"
#include "data/image_decode.h"
#include "data/image_list.h"
#include "data/preprocess.h"
#include "data/preprocess_config.h"
#include "fuzz/onnx_struct_generator.h"
#include "ir/executor.h"
#include "onnx/int_onnx_export.h"
#include "onnx/int_onnx_mutate.h"
#include "onnx/onnx_import.h"
#include "runtime/int_model.h"
#include "util/error.h"
#include "util/limits.h"
#include "util/npy.h"

namespace qvit::fuzz {
namespace {

// Inputs of more elements than this are not run after a successful import: running them is
// correct but slow, and the caps are exercised by the import already.
constexpr int64_t kMaxRunElements = int64_t{1} << 20;

std::string bytes_of(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

std::string read_whole(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InternalError("fuzz harness: cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Path-based readers get the bytes through one file per process and surface (tmpfs when there).
std::string as_file(const uint8_t* data, size_t size, const std::string& suffix) {
  static const std::filesystem::path dir = [] {
    std::error_code ec;
    if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) return std::filesystem::path("/dev/shm");
    return std::filesystem::temp_directory_path();
  }();
  const std::string path = (dir / ("qvit-fuzz-" + std::to_string(::getpid()) + suffix)).string();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!f) throw InternalError("fuzz harness: cannot write " + path);
  return path;
}

// Runs an imported float graph once on zero inputs, when they are small.
void run_float_graph(const Graph& g) {
  std::vector<Tensor> inputs;
  int64_t total = 0;
  for (int id : g.inputs) {
    const Value& v = g.value(id);
    total += shape_numel(v.shape);
    if (total > kMaxRunElements) return;
    inputs.emplace_back(v.dtype, v.shape);
  }
  Executor(g).run(std::move(inputs));
}

void run_int_model(LoweredModel lowered) {
  IntModel model(std::move(lowered));
  const Graph& g = model.lowered().graph;
  if (g.inputs.size() != 1) return;
  Shape shape = g.value(g.inputs[0]).shape;
  if (shape.empty() || shape_numel(shape) > kMaxRunElements) return;
  model.run(Tensor(DType::Float32, shape));
}

void onnx_bytes(const uint8_t* data, size_t size) {
  run_float_graph(import_onnx_bytes(bytes_of(data, size), "fuzz.onnx"));
}

void onnx_struct(const uint8_t* data, size_t size) {
  const std::string model = generate_onnx_model(data, size);
  ImportOptions options;
  options.batch = 2;
  run_float_graph(import_onnx_bytes(model, "generated.onnx", options));
}

void int_onnx_bytes(const uint8_t* data, size_t size) {
  run_int_model(load_int_onnx_bytes(bytes_of(data, size), "fuzz.int.onnx"));
}

void int_onnx_mutated(const uint8_t* data, size_t size) {
  static const std::string base = read_whole(fuzz_models_dir() + "/tiny_vit.int.onnx");
  run_int_model(load_int_onnx_bytes(testing::mutate_int_onnx(base, data, size), "mutated.int.onnx"));
}

void calib_json(const uint8_t* data, size_t size) { parse_calibration_result(bytes_of(data, size), "fuzz.calib.json"); }

void calib_lower(const uint8_t* data, size_t size) {
  const CalibrationResult calib = parse_calibration_result(bytes_of(data, size), "fuzz.calib.json");
  IntModel model(fuzz_models_dir() + "/tiny_vit.onnx", calib, 1, LoweringOptions{}, /*allow_other_model=*/true);
  model.run(Tensor(DType::Float32, {1, 1, 28, 28}));
}

void recipe(const uint8_t* data, size_t size) {
  const Recipe r = parse_recipe(bytes_of(data, size), "fuzz.recipe.json");
  static const Graph tiny = import_onnx(fuzz_models_dir() + "/tiny_vit.onnx");
  plan_quantization(tiny, r);
}

// A small gray gradient, the image every config is applied to.
const data::ImageU8& sample_image(int channels) {
  static const auto make = [](int c) {
    data::ImageU8 img(30, 40, c);
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 7);
    return img;
  };
  static const data::ImageU8 gray = make(1), rgb = make(3);
  return channels == 1 ? gray : rgb;
}

void preprocess_config(const uint8_t* data, size_t size) {
  const data::PreprocessConfig cfg = data::parse_preprocess_config(bytes_of(data, size), "fuzz.config.json");
  // Large outputs are valid configs but slow to fill; the parse is what is under test then.
  const int64_t resized = cfg.resize ? int64_t{*cfg.resize} * *cfg.resize * 2 : 0;
  if (int64_t{cfg.height} * cfg.width > kMaxRunElements || resized > kMaxRunElements) return;
  const data::Preprocessor pre(cfg);
  std::vector<float> out(static_cast<size_t>(pre.sample_numel()));
  pre.run(sample_image(cfg.channels), out.data(), "sample");
}

void npy(const uint8_t* data, size_t size) { read_npy(as_file(data, size, ".npy")); }

void idx(const uint8_t* data, size_t size) {
  const std::string path = as_file(data, size, ".idx");
  try {
    data::read_idx_u8(path, 3);
  } catch (const Error&) {
  }
  data::read_idx_u8(path, 1);
}

void image_list(const uint8_t* data, size_t size) { data::read_image_list(as_file(data, size, ".txt"), 10); }

void image_bytes(const uint8_t* data, size_t size) {
  static const data::Preprocessor pre = [] {
    data::PreprocessConfig cfg;
    cfg.channels = 3;
    cfg.height = cfg.width = 16;
    cfg.resize = 18;
    cfg.center_crop = data::CropSize{16, 16};
    cfg.mean = {0.5, 0.5, 0.5};
    cfg.std = {0.25, 0.25, 0.25};
    return data::Preprocessor(cfg);
  }();
  const data::ImageU8 image = data::decode_image_bytes({data, size}, 3, "fuzz.image");
  std::vector<float> out(static_cast<size_t>(pre.sample_numel()));
  pre.run(image, out.data(), "fuzz.image");
}

template <void (*Fn)(const uint8_t*, size_t)>
void accepting_errors(const uint8_t* data, size_t size) {
  try {
    Fn(data, size);
  } catch (const Error&) {
    // The clear, one-line rejection the CLI prints: the expected outcome for most inputs.
  }
}

}  // namespace

std::string fuzz_models_dir() { return std::string(QVIT_SOURCE_DIR) + "/tests/golden/fuzz_models"; }

const std::vector<Surface>& surfaces() {
  static const std::vector<Surface> all = {
      {"onnx", "ONNX model bytes: import (checker, conversion, folding, fusion), then one float run", accepting_errors<onnx_bytes>},
      {"onnx_struct", "fuzz bytes choose supported ops, ranks, dtypes, attributes and initializers of a generated model: import, fold, run",
       accepting_errors<onnx_struct>},
      {"int_onnx", ".int.onnx bytes: load_int_onnx, then one integer run", accepting_errors<int_onnx_bytes>},
      {"int_onnx_mutate", "attribute, initializer and metadata mutations of a real export (tiny_vit.int.onnx): load, run",
       accepting_errors<int_onnx_mutated>},
      {"calib_json", "calibration file text: parse", accepting_errors<calib_json>},
      {"calib_lower", "calibration file text: parse, lower tiny_vit.onnx with it, one integer run", accepting_errors<calib_lower>},
      {"recipe", "recipe text: parse, plan the quantization of tiny_vit.onnx", accepting_errors<recipe>},
      {"preprocess_config", "preprocessing config text: parse, preprocess a 40×30 image", accepting_errors<preprocess_config>},
      {"npy", ".npy bytes: read_npy", accepting_errors<npy>},
      {"idx", "IDX bytes (plain or gzip): read as images (rank 3) and as labels (rank 1)", accepting_errors<idx>},
      {"image_list", "image list text: read_image_list with 10 classes", accepting_errors<image_list>},
      {"image", "image bytes: decode, resize, center crop, normalize", accepting_errors<image_bytes>},
  };
  return all;
}

const Surface* find_surface(std::string_view name) {
  for (const Surface& s : surfaces())
    if (name == s.name) return &s;
  return nullptr;
}

void init_harness() {
  spdlog::set_level(spdlog::level::off);
  ResourceLimits limits;
  limits.max_tensor_bytes = int64_t{256} << 20;
  limits.max_image_pixels = 4'000'000;
  set_resource_limits(limits);
}

}  // namespace qvit::fuzz
