#include "data/image_list.h"

#include <charconv>
#include <fstream>
#include <string>

#include "util/limits.h"

namespace qvit::data {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<LabeledFile> read_image_list(const std::filesystem::path& list_file, int64_t num_classes) {
  std::ifstream in(list_file);
  if (!in) throw qvit::Error(list_file.string() + ": cannot open list file");
  const std::filesystem::path base = list_file.parent_path();
  std::vector<LabeledFile> files;
  std::string raw;
  for (int line_no = 1; std::getline(in, raw); ++line_no) {
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = list_file.string() + ":" + std::to_string(line_no) + ": ";

    size_t split = line.size();
    while (split > 0 && !is_space(line[split - 1])) --split;
    const std::string_view path_part = trim(line.substr(0, split));
    const std::string_view label_part = line.substr(split);
    if (path_part.empty())
      throw qvit::Error(where + "expected `<image path> <label>`, got \"" + qvit::clip_for_message(std::string(line)) + "\"");

    int64_t label = -1;
    const auto [end, ec] = std::from_chars(label_part.data(), label_part.data() + label_part.size(), label);
    if (ec != std::errc() || end != label_part.data() + label_part.size() || label < 0)
      throw qvit::Error(where + "label \"" + qvit::clip_for_message(std::string(label_part)) + "\" is not a non-negative integer");
    if (label >= num_classes)
      throw qvit::Error(where + "label " + std::to_string(label) + " is out of range for a " +
                        std::to_string(num_classes) + "-class model (num_classes in the config)");

    files.push_back({base / std::filesystem::path(std::string(path_part)), label});
  }
  if (in.bad()) throw qvit::Error(list_file.string() + ": cannot read list file");
  if (files.empty()) throw qvit::Error(list_file.string() + ": list file names no images");
  return files;
}

}  // namespace qvit::data
