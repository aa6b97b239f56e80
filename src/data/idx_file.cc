#include "data/idx_file.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include <zlib.h>

#include "util/error.h"
#include "util/limits.h"

namespace qvit::data {
namespace {

constexpr uint8_t kIdxTypeUnsignedByte = 0x08;
// The whole file is one array, so it obeys the one-tensor cap (default 2 GiB, far above the 47 MB
// of MNIST's training split); a gzip bomb stops there, not at the end of the disk.
int64_t max_idx_bytes() { return resource_limits().max_tensor_bytes; }

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
  throw qvit::Error(path.string() + ": " + problem);
}

// Whole file, decompressed if it is gzip (zlib's gzread passes plain files through unchanged).
std::vector<uint8_t> read_maybe_gzipped(const std::filesystem::path& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) fail(path, "cannot open IDX file");
  std::vector<uint8_t> bytes;
  // Reads grow geometrically from 64 KiB to 16 MiB a step: small files cost little, large ones
  // few calls.
  unsigned chunk = 1 << 16;
  for (;;) {
    const size_t old_size = bytes.size();
    bytes.resize(old_size + chunk);
    const int got = gzread(file, bytes.data() + old_size, chunk);
    chunk = std::min(chunk * 2, 1u << 24);
    if (got < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      fail(path, "corrupt gzip data (" + message + ")");
    }
    bytes.resize(old_size + static_cast<size_t>(got));
    if (got == 0) break;
    if (static_cast<int64_t>(bytes.size()) > max_idx_bytes()) {
      gzclose(file);
      fail(path, "decompresses to more than " + std::to_string(max_idx_bytes() >> 20) +
                     " MiB, above the cap for one array (raise it with --max-tensor-mb)");
    }
  }
  // A gzip stream cut short reads as a clean end of file; zlib only reports it here.
  int code = Z_OK;
  const std::string message = gzerror(file, &code);
  gzclose(file);
  if (code != Z_OK) fail(path, "truncated or corrupt gzip data (" + message + ")");
  return bytes;
}

std::string hex_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", b);
  return buf;
}

}  // namespace

IdxArray read_idx_u8(const std::filesystem::path& path, int expected_rank) {
  std::vector<uint8_t> bytes = read_maybe_gzipped(path);
  if (bytes.size() < 4) fail(path, "truncated IDX header (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes[0] != 0 || bytes[1] != 0)
    fail(path, "not an IDX file (magic starts with " + hex_byte(bytes[0]) + " " + hex_byte(bytes[1]) +
                   ", expected 0x00 0x00)");
  if (bytes[2] != kIdxTypeUnsignedByte)
    fail(path, "IDX element type " + hex_byte(bytes[2]) + " is not supported (only unsigned bytes, 0x08)");
  const int rank = bytes[3];
  if (rank != expected_rank)
    fail(path, "IDX array has " + std::to_string(rank) + " dimensions, expected " + std::to_string(expected_rank) +
                   (expected_rank == 3 ? " (images: count, rows, columns)" : " (labels: count)"));
  const size_t header_size = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header_size)
    fail(path, "truncated IDX header (" + std::to_string(bytes.size()) + " bytes, need " +
                   std::to_string(header_size) + ")");

  IdxArray array;
  int64_t expected_data = 1;
  for (int d = 0; d < rank; ++d) {
    const uint8_t* p = &bytes[4 + 4 * d];
    const int64_t dim = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | int64_t{p[3]};
    if (dim == 0) fail(path, "IDX dimension " + std::to_string(d) + " is zero");
    array.dims.push_back(dim);
    // Checked before multiplying, as every size read from a file is.
    if (expected_data > max_idx_bytes() / dim) fail(path, "IDX dimensions describe an implausibly large array");
    expected_data *= dim;
  }
  const int64_t actual_data = static_cast<int64_t>(bytes.size() - header_size);
  if (actual_data < expected_data)
    fail(path, "truncated: the header announces " + std::to_string(expected_data) + " bytes of data, the file has " +
                   std::to_string(actual_data));
  if (actual_data > expected_data)
    fail(path, "corrupt: " + std::to_string(actual_data - expected_data) +
                   " unexpected bytes after the data the header announces");
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header_size));
  array.data = std::move(bytes);
  return array;
}

}  // namespace qvit::data
