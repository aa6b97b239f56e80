#pragma once
// IDX files (the MNIST / Fashion-MNIST container: a 4-byte magic 00 00 <type> <rank>, then
// <rank> big-endian uint32 dimensions, then the elements in C order), gzip-compressed or plain.
// Only unsigned-byte arrays (type 0x08) are read: that is what image and label files hold.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace qvit::data {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // product(dims) bytes
};

// Reads a uint8 IDX array of the given rank (3 for images, 1 for labels). Every problem —
// unreadable or corrupt gzip data, bad magic, wrong type or rank, zero dimensions, truncated
// or over-long data — is a qvit::Error naming the file.
IdxArray read_idx_u8(const std::filesystem::path& path, int expected_rank);

}  // namespace qvit::data
