#include "data/unlabelled.h"

#include <algorithm>
#include <cstring>

#include "data/image_file_dataset.h"
#include "data/image_folder.h"
#include "util/npy.h"

namespace qvit::data {
namespace {

namespace fs = std::filesystem;

class NpyInputs : public Dataset {
 public:
  NpyInputs(Tensor data, std::string description) : data_(std::move(data)), description_(std::move(description)) {
    sample_shape_.assign(data_.shape().begin() + 1, data_.shape().end());
  }
  int64_t size() const override { return data_.shape()[0]; }
  int64_t label(int64_t) const override { return -1; }
  bool labelled() const override { return false; }
  std::string id(int64_t i) const override { return "npy:" + description_ + "#" + std::to_string(i); }
  void load(int64_t i, float* dst) const override {
    const int64_t n = sample_numel();
    std::memcpy(dst, data_.data<float>() + i * n, static_cast<size_t>(n) * sizeof(float));
  }
  const Shape& sample_shape() const override { return sample_shape_; }
  std::string description() const override {
    return "preprocessed inputs " + description_ + ": " + std::to_string(size()) + " samples of " + shape_str(sample_shape_);
  }

 private:
  Tensor data_;
  Shape sample_shape_;
  std::string description_;
};

class UnlabelledImages : public ImageFileDataset {
 public:
  using ImageFileDataset::ImageFileDataset;
  bool labelled() const override { return false; }
};

}  // namespace

std::unique_ptr<Dataset> open_flat_image_folder(const fs::path& dir, const PreprocessConfig& config) {
  std::vector<LabeledFile> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file() && has_image_extension(it->path())) files.push_back({it->path(), -1});
  if (ec) throw qvit::Error(dir.string() + ": cannot list folder: " + ec.message());
  if (files.empty()) throw qvit::Error(dir.string() + ": no images (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp)");
  std::sort(files.begin(), files.end(), [](const LabeledFile& a, const LabeledFile& b) { return a.path < b.path; });
  const std::string description = "unlabelled image folder " + dir.string() + ": " + std::to_string(files.size()) + " images";
  return std::make_unique<UnlabelledImages>(std::move(files), std::vector<std::string>{}, config, description);
}

std::unique_ptr<Dataset> open_npy_inputs(const fs::path& file) {
  Tensor t = read_npy(file.string());
  if (t.dtype() != DType::Float32) throw qvit::Error(file.string() + ": calibration inputs must be float32, got " + dtype_name(t.dtype()));
  if (t.rank() < 2 || t.shape()[0] < 1)
    throw qvit::Error(file.string() + ": expected an array [N, ...] of preprocessed inputs, got " + shape_str(t.shape()));
  return std::make_unique<NpyInputs>(std::move(t), file.string());
}

}  // namespace qvit::data
