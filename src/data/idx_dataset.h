#pragma once
// MNIST / Fashion-MNIST in IDX files: a folder holding <split>-images-idx3-ubyte[.gz] and
// <split>-labels-idx1-ubyte[.gz] (a "." instead of the "-" before idx is accepted too). Images
// are uint8 grayscale, treated as PIL mode "L" images, exactly like torchvision's MNIST datasets
// (Image.fromarray(img, mode="L")); a 3-channel config gets the gray value replicated. The
// arrays are read once into memory (the 60k training split is 47 MB).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/idx_file.h"
#include "data/preprocess.h"

namespace qvit::data {

struct IdxSplit {
  std::string name;  // "train", "t10k", ...
  std::filesystem::path images;
  std::filesystem::path labels;
};

// The splits present in `dir`, sorted by name. An images file without a matching labels file is
// a qvit::Error; a folder without IDX image files gives an empty list.
std::vector<IdxSplit> find_idx_splits(const std::filesystem::path& dir);

class IdxDataset : public Dataset {
 public:
  // Reads and validates both files (matching counts, labels < num_classes).
  IdxDataset(const IdxSplit& split, const PreprocessConfig& config);

  int64_t size() const override { return count_; }
  int64_t label(int64_t i) const override { return labels_.data.at(static_cast<size_t>(i)); }
  std::string id(int64_t i) const override;
  void load(int64_t i, float* dst) const override;
  const Shape& sample_shape() const override { return preprocessor_.sample_shape(); }
  std::string description() const override;

 private:
  IdxSplit split_;
  IdxArray images_;
  IdxArray labels_;
  int64_t count_ = 0;
  int rows_ = 0;
  int cols_ = 0;
  Preprocessor preprocessor_;
};

// Opens split `split` of `dir`; an empty name means the config's default_split, or else the
// only split present. A missing or ambiguous split is a qvit::Error listing those available.
std::unique_ptr<Dataset> open_idx_dataset(const std::filesystem::path& dir, const PreprocessConfig& config,
                                          const std::string& split);

}  // namespace qvit::data
