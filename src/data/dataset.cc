#include "data/dataset.h"

#include <regex>

#include <spdlog/spdlog.h>

#include "data/idx_dataset.h"
#include "data/image_file_dataset.h"
#include "data/image_folder.h"
#include "data/unlabelled.h"

namespace qvit::data {
namespace {

namespace fs = std::filesystem;

bool is_idx_file_name(const fs::path& p) {
  static const std::regex kIdx(R"(.*[-.]idx[13]-ubyte(\.gz)?)");
  return std::regex_match(p.filename().string(), kIdx);
}

// Explains why a folder is neither IDX data nor an image-folder tree.
[[noreturn]] void reject_folder(const fs::path& dir) {
  std::error_code ec;
  bool has_images = false, has_entries = false;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    has_entries = true;
    has_images = has_images || has_image_extension(it->path());
  }
  if (ec) throw qvit::Error(dir.string() + ": cannot list folder: " + ec.message());
  if (!has_entries) throw qvit::Error(dir.string() + ": empty folder, no images to read");
  if (has_images)
    throw qvit::Error(dir.string() +
                      ": holds images but no class subfolders; use the ImageNet layout <dir>/<class>/<image> "
                      "or a list file of `<image path> <label>` lines (calibrate also takes a flat folder)");
  throw qvit::Error(dir.string() + ": no class subfolders, images or IDX files found");
}

}  // namespace

std::unique_ptr<Dataset> open_dataset(const fs::path& path, const PreprocessConfig& config,
                                      const DatasetOptions& options) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw qvit::Error(path.string() + ": no such file or folder");

  if (fs::is_regular_file(status)) {
    if (has_image_extension(path))
      throw qvit::Error(path.string() + ": is an image; the data must be a folder or a list file");
    if (is_idx_file_name(path))
      throw qvit::Error(path.string() + ": is an IDX file; pass the folder that holds the images and labels files");
    if (path.extension() == ".npy") {
      if (!options.allow_unlabelled)
        throw qvit::Error(path.string() + ": a .npy of inputs has no labels; it can calibrate, not evaluate");
      return open_npy_inputs(path);
    }
    if (!options.split.empty())
      spdlog::warn("{}: a list file has no splits, so the split \"{}\" is ignored", path.string(), options.split);
    return open_image_list(path, config);
  }
  if (!fs::is_directory(status)) throw qvit::Error(path.string() + ": is neither a regular file nor a folder");

  if (!find_idx_splits(path).empty()) return open_idx_dataset(path, config, options.split);
  if (!options.split.empty())
    spdlog::warn("{}: not IDX data, so the split \"{}\" is ignored", path.string(), options.split);
  bool has_subfolder = false;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end && !has_subfolder; it.increment(ec)) {
    std::error_code entry_ec;
    has_subfolder = it->is_directory(entry_ec);
  }
  if (ec) throw qvit::Error(path.string() + ": cannot list folder: " + ec.message());
  if (has_subfolder) return open_image_folder(path, config);
  if (options.allow_unlabelled) return open_flat_image_folder(path, config);
  reject_folder(path);
}

}  // namespace qvit::data
