#pragma once
// Indexing an ImageNet-style folder exactly as torchvision.datasets.ImageFolder does, so that
// class indices and sample order agree with the Python side:
//  - classes are the subdirectories of root (symlinks followed, hidden ones included, as
//    torchvision does), sorted by name; class index = position in that order;
//  - each class folder is walked recursively; folders are visited in sorted path order and the
//    files of a folder sorted by name, before those of its subfolders;
//  - files count if their extension is one of torchvision's IMG_EXTENSIONS, compared
//    case-insensitively: .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp;
//  - a class folder without any image is an error (torchvision raises too).
#include <filesystem>
#include <string>
#include <vector>

#include "data/image_file_dataset.h"

namespace qvit::data {

bool has_image_extension(const std::filesystem::path& path);

struct ImageFolderIndex {
  std::vector<std::string> class_names;  // sorted; label = index in this list
  std::vector<LabeledFile> files;        // class by class, in torchvision's order
};

// Throws qvit::Error if root has no class subfolder or a class folder holds no image.
ImageFolderIndex scan_image_folder(const std::filesystem::path& root);

}  // namespace qvit::data
