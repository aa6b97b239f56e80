#pragma once
// A dataset of image files with known labels, decoded and preprocessed on demand, and the two
// ways to find those files: an ImageNet-style class-folder tree (image_folder.h) or a list file
// (image_list.h).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/preprocess.h"

namespace qvit::data {

struct LabeledFile {
  std::filesystem::path path;
  int64_t label = 0;
};

class ImageFileDataset : public Dataset {
 public:
  ImageFileDataset(std::vector<LabeledFile> files, std::vector<std::string> class_names,
                   const PreprocessConfig& config, std::string description);

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t label(int64_t i) const override { return files_.at(static_cast<size_t>(i)).label; }
  std::string id(int64_t i) const override { return files_.at(static_cast<size_t>(i)).path.string(); }
  void load(int64_t i, float* dst) const override;
  const Shape& sample_shape() const override { return preprocessor_.sample_shape(); }
  std::string description() const override { return description_; }
  const std::vector<std::string>& class_names() const override { return class_names_; }

 private:
  std::vector<LabeledFile> files_;
  std::vector<std::string> class_names_;
  Preprocessor preprocessor_;
  std::string description_;
};

// ImageNet layout: root/<class>/**/<image>. Class indices follow torchvision's ImageFolder
// (see image_folder.h). Fails if there are more class folders than the config's num_classes.
std::unique_ptr<Dataset> open_image_folder(const std::filesystem::path& root, const PreprocessConfig& config);

// `<image path> <label>` lines (see image_list.h); labels must be < the config's num_classes.
std::unique_ptr<Dataset> open_image_list(const std::filesystem::path& list_file, const PreprocessConfig& config);

}  // namespace qvit::data
