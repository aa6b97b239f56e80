#include "eval/config_lookup.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "util/error.h"

namespace fs = std::filesystem;

namespace qvit {
namespace {

std::vector<fs::path> config_dirs() { return {fs::current_path() / "configs", fs::path(QVIT_SOURCE_DIR) / "configs"}; }

// Every config file under the config folders, sorted per folder (recipes are not configs).
std::vector<fs::path> config_files() {
  std::vector<fs::path> out;
  for (const auto& dir : config_dirs()) {
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".json" && e.path().parent_path().filename() != "recipes")
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    out.insert(out.end(), files.begin(), files.end());
  }
  return out;
}

std::string preset_names() {
  std::set<std::string> names;
  for (const auto& dir : config_dirs())
    if (fs::is_directory(dir))
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ".json") names.insert(e.path().stem().string());
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  return list;
}

}  // namespace

std::string LocatedConfig::resolve(const std::string& relative) const {
  if (relative.empty()) return relative;
  fs::path p(relative);
  return p.is_absolute() ? p.string() : (root / p).lexically_normal().string();
}

LocatedConfig load_config_file(const fs::path& file) {
  LocatedConfig lc{data::load_preprocess_config(file), file, fs::absolute(file).parent_path()};
  return lc;
}

LocatedConfig find_config_for_model(const fs::path& model) {
  // An exported model (qvit export: NAME.int.onnx, NAME.w8a8.qdq.onnx, ...) uses the config of
  // NAME.onnx: the name up to an export suffix, then up to its first dot.
  std::string stem = model.stem().string();
  for (const char* suffix : {".int", ".qdq"})
    if (stem.size() > std::strlen(suffix) && stem.ends_with(suffix)) stem.resize(stem.size() - std::strlen(suffix));
  const std::string file = stem + model.extension().string();
  std::vector<std::string> names = {file};
  if (stem.find('.') != std::string::npos && stem.find('.') > 0) names.push_back(stem.substr(0, stem.find('.')) + model.extension().string());
  for (const auto& name : names)
    for (const auto& f : config_files()) {
      LocatedConfig lc = load_config_file(f);
      for (const auto& m : lc.config.models)
        if (fs::path(m).filename() == name) return lc;
    }
  throw Error(model.string() + ": no preprocessing config names '" + file +
              "'; pass --preset NAME (bundled: " + preset_names() +
              ") or --config FILE, a qvit.config/1 JSON such as {\"format\": \"qvit.config/1\", \"model\": \"" + file +
              "\", \"input\": {\"channels\": 3, \"height\": 224, \"width\": 224}, \"resize\": 256, \"center_crop\": 224, "
              "\"mean\": [0.485, 0.456, 0.406], \"std\": [0.229, 0.224, 0.225], \"num_classes\": 1000} (docs/config.md)");
}

LocatedConfig find_preset(const std::string& name) {
  if (name.find('/') == std::string::npos && !name.empty())
    for (const auto& dir : config_dirs())
      if (fs::is_regular_file(dir / (name + ".json"))) return load_config_file(dir / (name + ".json"));
  throw Error("--preset " + name + ": no bundled config of that name (bundled: " + preset_names() + ")");
}

LocatedConfig choose_config(const fs::path& model, const std::string& config_file, const std::string& preset) {
  if (!config_file.empty() && !preset.empty()) throw Error("--config and --preset are exclusive; pass one");
  const LocatedConfig lc = !config_file.empty() ? load_config_file(config_file)
                           : !preset.empty()    ? find_preset(preset)
                                                : find_config_for_model(model);
  spdlog::info("config {} ({})", lc.file.string(), lc.config.name);
  return lc;
}

}  // namespace qvit
