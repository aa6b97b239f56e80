#pragma once
// Output files are written to a temporary sibling and renamed into place, so a crash or an error
// never leaves a half-written file behind.
#include <string>
#include <string_view>

namespace qvit {

void write_file_atomic(const std::string& path, std::string_view bytes);
// Throws a clear Error unless `path` could be written atomically: its folder exists and accepts a
// new file. Commands call it before their long work.
void check_writable(const std::string& path);

}  // namespace qvit
