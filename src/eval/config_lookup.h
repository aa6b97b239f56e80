#pragma once
// Which preprocessing config a command uses: --config FILE, --preset NAME (a bundled config by
// name: imagenet, fmnist, mnist, ...), or else the config whose "model" names the model's file.
// Relative paths inside a config resolve against the config file's own folder.
#include <filesystem>
#include <optional>
#include <string>

#include "data/preprocess_config.h"

namespace qvit {

struct LocatedConfig {
  data::PreprocessConfig config;
  std::filesystem::path file;
  std::filesystem::path root;  // what the config's relative paths are relative to: its folder

  // The config's path field resolved against root (empty stays empty).
  std::string resolve(const std::string& relative) const;
};

LocatedConfig load_config_file(const std::filesystem::path& file);

// Looks in ./configs and in the source tree's configs/ (and their subfolders) for a config whose
// "model" names the same file as `model`. Exported models (NAME.int.onnx, NAME.qdq.onnx) find the
// config of NAME.onnx. When none does, a clear error says what to pass or write.
LocatedConfig find_config_for_model(const std::filesystem::path& model);

// A bundled config by name (configs/NAME.json); a clear error lists the names otherwise.
LocatedConfig find_preset(const std::string& name);

// --config, else --preset, else find_config_for_model (at most one of the first two); logs the
// config chosen.
LocatedConfig choose_config(const std::filesystem::path& model, const std::string& config_file, const std::string& preset);

}  // namespace qvit
