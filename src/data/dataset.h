#pragma once
// Labelled image datasets behind one interface, and open_dataset(), which picks the kind from
// what `--data` points at:
//   - a folder with <split>-images-idx3-ubyte[.gz] + <split>-labels-idx1-ubyte[.gz]  → IDX (MNIST);
//   - a folder with class subfolders (ImageNet/torchvision ImageFolder layout)        → image folder;
//   - a regular file with `<image path> <label>` lines                                 → image list;
//   - with allow_unlabelled, a flat folder of images or a .npy of preprocessed inputs  → unlabelled.
// Every sample comes out preprocessed for the model by the config's pipeline (preprocess.h).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/preprocess_config.h"
#include "ir/tensor.h"

namespace qvit::data {

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t i) const = 0;  // -1 for unlabelled data
  virtual bool labelled() const { return true; }
  // Where sample i comes from: the image path, or "idx:<images file>#<index>".
  virtual std::string id(int64_t i) const = 0;
  // Writes sample i, preprocessed, as sample_numel() floats at dst. Safe to call from several
  // threads at once. Throws BadImageError (image.h) for an unusable image, qvit::Error for
  // other problems (e.g. an image the config cannot bring to the model's input size).
  virtual void load(int64_t i, float* dst) const = 0;

  // [C, H, W] (NCHW configs) or [H, W, C] (NHWC configs).
  virtual const Shape& sample_shape() const = 0;
  int64_t sample_numel() const { return shape_numel(sample_shape()); }

  // One line for logs, e.g. "image folder /data/val: 50000 images, 1000 classes".
  virtual std::string description() const = 0;
  // Class names the data itself defines (class folder names), else empty.
  virtual const std::vector<std::string>& class_names() const { return no_class_names_; }

 private:
  static inline const std::vector<std::string> no_class_names_{};
};

struct DatasetOptions {
  // IDX split prefix ("train", "t10k"); empty: the config's default_split, or else the only
  // split present.
  std::string split;
  // Also accept unlabelled data (calibration only): a flat folder of images, a .npy of inputs.
  bool allow_unlabelled = false;
};

std::unique_ptr<Dataset> open_dataset(const std::filesystem::path& path, const PreprocessConfig& config,
                                      const DatasetOptions& options = {});

}  // namespace qvit::data
