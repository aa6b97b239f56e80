#include "util/atomic_file.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "util/error.h"

namespace qvit {

void write_file_atomic(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(path + ": cannot write (cannot create temporary file " + tmp + ")");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      throw Error(path + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename temporary file into place");
  }
}

void check_writable(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::absolute(fs::path(path)).parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(path + ": cannot write: folder " + dir.string() + " does not exist");
  if (fs::is_directory(path, ec)) throw Error(path + ": cannot write: it is a folder");
  if (::access(dir.c_str(), W_OK) != 0) throw Error(path + ": cannot write: folder " + dir.string() + " is not writable");
}

}  // namespace qvit
