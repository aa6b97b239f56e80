#include "data/idx_dataset.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <regex>

#include "data/image_decode.h"

namespace qvit::data {
namespace {

namespace fs = std::filesystem;

// Plain files are preferred over .gz when a folder holds both (they read faster).
fs::path pick_file(const std::vector<fs::path>& candidates) {
  auto plain = std::find_if(candidates.begin(), candidates.end(),
                            [](const fs::path& p) { return p.extension() != ".gz"; });
  return plain != candidates.end() ? *plain : candidates.front();
}

std::string split_names(const std::vector<IdxSplit>& splits) {
  std::string names;
  for (const auto& s : splits) names += (names.empty() ? "" : ", ") + s.name;
  return names;
}

}  // namespace

std::vector<IdxSplit> find_idx_splits(const fs::path& dir) {
  static const std::regex kImages(R"((.+)-images[-.]idx3-ubyte(\.gz)?)");
  static const std::regex kLabels(R"((.+)-labels[-.]idx1-ubyte(\.gz)?)");
  std::map<std::string, std::vector<fs::path>> images, labels;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::smatch m;
    if (std::regex_match(name, m, kImages)) images[m[1].str()].push_back(it->path());
    else if (std::regex_match(name, m, kLabels)) labels[m[1].str()].push_back(it->path());
  }
  if (ec) throw qvit::Error(dir.string() + ": cannot list folder: " + ec.message());

  std::vector<IdxSplit> splits;
  for (auto& [name, image_files] : images) {
    auto l = labels.find(name);
    if (l == labels.end())
      throw qvit::Error(pick_file(image_files).string() + ": no matching labels file " + name +
                        "-labels-idx1-ubyte[.gz] in the same folder");
    std::sort(image_files.begin(), image_files.end());
    std::sort(l->second.begin(), l->second.end());
    splits.push_back({name, pick_file(image_files), pick_file(l->second)});
  }
  return splits;  // std::map iteration order: sorted by split name
}

IdxDataset::IdxDataset(const IdxSplit& split, const PreprocessConfig& config)
    : split_(split),
      images_(read_idx_u8(split.images, 3)),
      labels_(read_idx_u8(split.labels, 1)),
      preprocessor_(config) {
  count_ = images_.dims[0];
  if (labels_.dims[0] != count_)
    throw qvit::Error(split.labels.string() + ": " + std::to_string(labels_.dims[0]) + " labels but " +
                      split.images.string() + " holds " + std::to_string(count_) + " images");
  if (images_.dims[1] > (1 << 16) || images_.dims[2] > (1 << 16))
    throw qvit::Error(split.images.string() + ": implausible image size " + std::to_string(images_.dims[1]) + "x" +
                      std::to_string(images_.dims[2]));
  rows_ = static_cast<int>(images_.dims[1]);
  cols_ = static_cast<int>(images_.dims[2]);
  for (size_t i = 0; i < labels_.data.size(); ++i) {
    if (labels_.data[i] >= config.num_classes)
      throw qvit::Error(split.labels.string() + ": label " + std::to_string(labels_.data[i]) + " of image " +
                        std::to_string(i) + " is out of range for a " + std::to_string(config.num_classes) +
                        "-class model (num_classes in the config)");
  }
}

std::string IdxDataset::id(int64_t i) const { return "idx:" + split_.images.string() + "#" + std::to_string(i); }

void IdxDataset::load(int64_t i, float* dst) const {
  QVIT_CHECK(i >= 0 && i < count_, "IdxDataset::load: index out of range");
  const size_t pixels = static_cast<size_t>(rows_) * cols_;
  ImageU8 gray(rows_, cols_, 1);
  std::memcpy(gray.pixels.data(), images_.data.data() + static_cast<size_t>(i) * pixels, pixels);
  preprocessor_.run(convert_channels(std::move(gray), preprocessor_.config().channels), dst, id(i));
}

std::string IdxDataset::description() const {
  return "IDX split \"" + split_.name + "\" (" + split_.images.string() + "): " + std::to_string(count_) + " images " +
         std::to_string(rows_) + "x" + std::to_string(cols_);
}

std::unique_ptr<Dataset> open_idx_dataset(const fs::path& dir, const PreprocessConfig& config,
                                          const std::string& split) {
  const std::vector<IdxSplit> splits = find_idx_splits(dir);
  if (splits.empty()) throw qvit::Error(dir.string() + ": no IDX files (<split>-images-idx3-ubyte[.gz])");
  const std::string wanted = !split.empty() ? split : config.default_split;
  if (wanted.empty()) {
    if (splits.size() > 1)
      throw qvit::Error(dir.string() + ": holds several IDX splits (" + split_names(splits) +
                        "); choose one (--split, or default_split in the config)");
    return std::make_unique<IdxDataset>(splits.front(), config);
  }
  for (const auto& s : splits)
    if (s.name == wanted) return std::make_unique<IdxDataset>(s, config);
  throw qvit::Error(dir.string() + ": no IDX split \"" + wanted + "\"" +
                    (split.empty() ? " (default_split in the config)" : "") + "; available: " + split_names(splits));
}

}  // namespace qvit::data
