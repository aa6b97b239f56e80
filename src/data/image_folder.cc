#include "data/image_folder.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <utility>

namespace qvit::data {
namespace {

namespace fs = std::filesystem;

// torchvision.datasets.folder.IMG_EXTENSIONS.
constexpr std::array<std::string_view, 9> kImageExtensions = {".jpg", ".jpeg", ".png", ".ppm", ".bmp",
                                                              ".pgm", ".tif",  ".tiff", ".webp"};
// Deeper than any real dataset; stops a symlink loop (torchvision would recurse forever).
constexpr int kMaxFolderDepth = 64;

struct FolderFiles {
  std::string folder;               // compared like the `root` strings of Python's os.walk
  std::vector<std::string> images;  // file names, sorted
};

std::vector<fs::directory_entry> list_folder(const fs::path& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw qvit::Error(dir.string() + ": cannot list folder: " + ec.message());
  std::vector<fs::directory_entry> entries;
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) throw qvit::Error(dir.string() + ": cannot list folder: " + ec.message());
    entries.push_back(*it);
  }
  if (ec) throw qvit::Error(dir.string() + ": cannot list folder: " + ec.message());
  return entries;
}

// is_directory follows symlinks, like Python's DirEntry.is_dir() and os.walk(followlinks=True).
bool is_folder(const fs::directory_entry& e) {
  std::error_code ec;
  return e.is_directory(ec);
}

void collect_images(const fs::path& dir, int depth, std::vector<FolderFiles>& out) {
  if (depth > kMaxFolderDepth)
    throw qvit::Error(dir.string() + ": folders nested more than " + std::to_string(kMaxFolderDepth) +
                      " deep (a symlink loop?)");
  FolderFiles here{dir.string(), {}};
  std::vector<fs::path> subfolders;
  for (const auto& entry : list_folder(dir)) {
    if (is_folder(entry)) subfolders.push_back(entry.path());
    else if (has_image_extension(entry.path())) here.images.push_back(entry.path().filename().string());
  }
  std::sort(here.images.begin(), here.images.end());
  out.push_back(std::move(here));
  for (const auto& sub : subfolders) collect_images(sub, depth + 1, out);
}

}  // namespace

bool has_image_extension(const fs::path& path) {
  // On the whole file name, not path.extension(): torchvision accepts a file named ".jpg".
  std::string name = path.filename().string();
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return std::any_of(kImageExtensions.begin(), kImageExtensions.end(),
                     [&](std::string_view ext) { return name.ends_with(ext); });
}

ImageFolderIndex scan_image_folder(const fs::path& root) {
  ImageFolderIndex index;
  for (const auto& entry : list_folder(root))
    if (is_folder(entry)) index.class_names.push_back(entry.path().filename().string());
  if (index.class_names.empty()) throw qvit::Error(root.string() + ": no class subfolders found");
  std::sort(index.class_names.begin(), index.class_names.end());

  for (size_t label = 0; label < index.class_names.size(); ++label) {
    const fs::path class_dir = root / index.class_names[label];
    std::vector<FolderFiles> folders;
    collect_images(class_dir, 0, folders);
    // torchvision sorts os.walk's (root, dirs, files) tuples, i.e. folders by path string.
    std::sort(folders.begin(), folders.end(),
              [](const FolderFiles& a, const FolderFiles& b) { return a.folder < b.folder; });
    const size_t before = index.files.size();
    for (const auto& folder : folders)
      for (const auto& name : folder.images)
        index.files.push_back({fs::path(folder.folder) / name, static_cast<int64_t>(label)});
    if (index.files.size() == before)
      throw qvit::Error(class_dir.string() +
                        ": class folder holds no images (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp)");
  }
  return index;
}

}  // namespace qvit::data
