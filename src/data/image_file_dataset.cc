#include "data/image_file_dataset.h"

#include <spdlog/spdlog.h>

#include "data/image_folder.h"
#include "data/image_list.h"

namespace qvit::data {

ImageFileDataset::ImageFileDataset(std::vector<LabeledFile> files, std::vector<std::string> class_names,
                                   const PreprocessConfig& config, std::string description)
    : files_(std::move(files)),
      class_names_(std::move(class_names)),
      preprocessor_(config),
      description_(std::move(description)) {}

void ImageFileDataset::load(int64_t i, float* dst) const {
  preprocessor_.run_file(files_.at(static_cast<size_t>(i)).path, dst);
}

std::unique_ptr<Dataset> open_image_folder(const std::filesystem::path& root, const PreprocessConfig& config) {
  ImageFolderIndex index = scan_image_folder(root);
  const int64_t classes = static_cast<int64_t>(index.class_names.size());
  if (classes > config.num_classes)
    throw qvit::Error(root.string() + ": " + std::to_string(classes) + " class folders but the model has " +
                      std::to_string(config.num_classes) + " classes (num_classes in the config)");
  if (classes < config.num_classes)
    spdlog::warn("{}: {} class folders for a {}-class model; labels are positions in the sorted folder list, "
                 "so they only match the model's classes if the missing classes sort last",
                 root.string(), classes, config.num_classes);
  const std::string description = "image folder " + root.string() + ": " + std::to_string(index.files.size()) +
                                  " images, " + std::to_string(classes) + " classes";
  return std::make_unique<ImageFileDataset>(std::move(index.files), std::move(index.class_names), config,
                                            description);
}

std::unique_ptr<Dataset> open_image_list(const std::filesystem::path& list_file, const PreprocessConfig& config) {
  std::vector<LabeledFile> files = read_image_list(list_file, config.num_classes);
  const std::string description = "image list " + list_file.string() + ": " + std::to_string(files.size()) + " images";
  return std::make_unique<ImageFileDataset>(std::move(files), std::vector<std::string>{}, config, description);
}

}  // namespace qvit::data
