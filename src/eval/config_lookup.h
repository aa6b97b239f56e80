#pragma once
// Finding a model's preprocessing config when the user gives none, and resolving the relative
// paths inside a config (they are relative to the project root: the folder above configs/).
#include <filesystem>
#include <optional>
#include <string>

#include "data/preprocess_config.h"

namespace qvit {

struct LocatedConfig {
  data::PreprocessConfig config;
  std::filesystem::path file;
  std::filesystem::path root;  // what the config's relative paths are relative to

  // The config's path field resolved against root (empty stays empty).
  std::string resolve(const std::string& relative) const;
};

LocatedConfig load_config_file(const std::filesystem::path& file);

// Looks in ./configs and in the source tree's configs/ for a config whose "model" names the same
// file as `model`, or whose "name" is a prefix of the model's file stem. Clear error if none.
// Exported models (NAME.int.onnx, NAME.qdq.onnx) find the config of NAME.onnx.
LocatedConfig find_config_for_model(const std::filesystem::path& model);

}  // namespace qvit
