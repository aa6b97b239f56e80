#include "eval/config_lookup.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "util/error.h"

namespace fs = std::filesystem;

namespace qvit {

std::string LocatedConfig::resolve(const std::string& relative) const {
  if (relative.empty()) return relative;
  fs::path p(relative);
  return p.is_absolute() ? p.string() : (root / p).lexically_normal().string();
}

LocatedConfig load_config_file(const fs::path& file) {
  LocatedConfig lc{data::load_preprocess_config(file), file, fs::absolute(file).parent_path().parent_path()};
  return lc;
}

LocatedConfig find_config_for_model(const fs::path& model) {
  std::vector<fs::path> dirs = {fs::current_path() / "configs", fs::path(QVIT_SOURCE_DIR) / "configs"};
  // An exported model (qvit export: NAME.int.onnx, NAME.qdq.onnx) uses the config of NAME.onnx.
  std::string stem = model.stem().string();
  for (const char* suffix : {".int", ".qdq"})
    if (stem.size() > std::strlen(suffix) && stem.ends_with(suffix)) stem.resize(stem.size() - std::strlen(suffix));
  const std::string file = stem + model.extension().string();
  std::optional<LocatedConfig> by_prefix;
  for (const auto& dir : dirs) {
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      LocatedConfig lc = load_config_file(f);
      if (!lc.config.model.empty() && fs::path(lc.config.model).filename() == file) return lc;
      if (!by_prefix && !lc.config.name.empty() && stem.rfind(lc.config.name, 0) == 0) by_prefix = lc;
    }
  }
  if (by_prefix) return *by_prefix;
  throw Error(model.string() + ": no preprocessing config found for this model in configs/; pass --config FILE");
}

}  // namespace qvit
