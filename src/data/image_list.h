#pragma once
// List files: one `<image path> <label>` per line. The label is the last whitespace-separated
// field (so paths may contain spaces), a non-negative integer. Relative paths are relative to
// the list file's folder. Blank lines and lines starting with `#` are ignored. A malformed line,
// or a label >= num_classes, is a qvit::Error naming `<file>:<line>`.
#include <filesystem>
#include <vector>

#include "data/image_file_dataset.h"

namespace qvit::data {

std::vector<LabeledFile> read_image_list(const std::filesystem::path& list_file, int64_t num_classes);

}  // namespace qvit::data
