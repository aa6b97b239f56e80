#pragma once
// Output files are written to a temporary sibling and renamed into place, so a crash or an error
// never leaves a half-written file behind.
#include <string>
#include <string_view>

namespace qvit {

void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace qvit
