#include "util/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "util/atomic_file.h"
#include "util/limits.h"

namespace qvit {
namespace {

const char* descr_of(DType t) {
  switch (t) {
    case DType::Float32: return "<f4";
    case DType::Float64: return "<f8";
    case DType::Int64: return "<i8";
    case DType::Int32: return "<i4";
    case DType::Int8: return "|i1";
    case DType::UInt8: return "|u1";
    case DType::Bool: return "|b1";
  }
  return "?";
}

// The text after `'key':` in a .npy header dict, from its first non-space character (a plain scan:
// std::regex recurses per character and overflows the stack on a long hostile header).
std::string header_value(const std::string& header, const std::string& key, const std::string& path) {
  const std::string quoted = "'" + key + "'";
  size_t at = header.find(quoted);
  if (at == std::string::npos) throw Error(path + ": header has no " + key);
  at = header.find_first_not_of(" \t", at + quoted.size());
  if (at == std::string::npos || header[at] != ':') throw Error(path + ": header has no value for " + key);
  at = header.find_first_not_of(" \t", at + 1);
  if (at == std::string::npos) throw Error(path + ": header has no value for " + key);
  if (header[at] == '\'') {
    const size_t end = header.find('\'', at + 1);
    if (end == std::string::npos) throw Error(path + ": unterminated string for " + key);
    return header.substr(at, end - at + 1);
  }
  return header.substr(at);
}

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open file");
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw Error(path + ": not a .npy file");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t hlen = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!f.read(reinterpret_cast<char*>(b), 2)) throw Error(path + ": truncated header");
    hlen = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!f.read(reinterpret_cast<char*>(b), 4)) throw Error(path + ": truncated header");
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  } else {
    throw Error(path + ": unsupported .npy version " + std::to_string(major));
  }
  if (hlen > (1u << 20)) throw Error(path + ": header too large");
  std::string header(hlen, '\0');
  if (!f.read(header.data(), hlen)) throw Error(path + ": truncated header");
  const std::string descr = header_value(header, "descr", path);
  if (descr.size() < 2 || descr.front() != '\'' || descr.back() != '\'') throw Error(path + ": header has no descr string");
  if (header.find("'fortran_order'") != std::string::npos && header_value(header, "fortran_order", path).starts_with("True")) throw Error(path + ": Fortran-order arrays are not supported");
  const std::string shape_text = header_value(header, "shape", path);
  const size_t close = shape_text.find(')');
  if (shape_text.empty() || shape_text.front() != '(' || close == std::string::npos) throw Error(path + ": header has no shape tuple");
  Shape shape;
  std::stringstream ss(shape_text.substr(1, close - 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    size_t used = 0;
    int64_t dim = -1;
    try {
      dim = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || dim < 0) throw Error(path + ": bad shape entry '" + clip_for_message(item) + "'");
    shape.push_back(dim);
  }
  DType dt;
  if (descr == "'<f4'") dt = DType::Float32;
  else if (descr == "'<f8'") dt = DType::Float64;
  else if (descr == "'<i8'") dt = DType::Int64;
  else if (descr == "'<i4'") dt = DType::Int32;
  else if (descr == "'|i1'") dt = DType::Int8;
  else if (descr == "'|u1'") dt = DType::UInt8;
  else if (descr == "'|b1'") dt = DType::Bool;
  else throw Error(path + ": unsupported dtype " + clip_for_message(descr));
  // The header is untrusted: compare what it declares with the bytes the file holds before
  // allocating (a 150-byte file must not claim, and get, 8 GiB).
  const std::streamoff data_start = f.tellg();
  f.seekg(0, std::ios::end);
  const std::streamoff file_end = f.tellg();
  f.seekg(data_start);
  if (data_start < 0 || file_end < data_start) throw Error(path + ": cannot determine the file size (not a regular file?)");
  int64_t numel = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(numel, d, &numel))
      throw Error(path + ": shape " + clip_for_message(shape_str(shape)) + " has more elements than a 64-bit count holds");
  const int64_t available = static_cast<int64_t>(file_end - data_start);
  const int64_t elem = static_cast<int64_t>(dtype_size(dt));
  if (numel > available / elem)
    throw Error(path + ": truncated data (the header declares shape " + shape_str(shape) + " of " + descr + ", " +
                (numel > INT64_MAX / elem ? std::string("more than 8 EiB") : std::to_string(numel * elem) + " bytes") +
                ", the file holds " + std::to_string(available) + ")");
  check_tensor_bytes(numel, dtype_size(dt), path + ": array of shape " + clip_for_message(shape_str(shape)));
  Tensor t(dt, shape, Tensor::Uninitialized{});
  if (!f.read(reinterpret_cast<char*>(t.raw()), static_cast<std::streamsize>(t.nbytes())))
    throw Error(path + ": truncated data (expected " + std::to_string(t.nbytes()) + " bytes for shape " + shape_str(shape) + ")");
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += std::to_string(t.shape()[i]) + (t.shape().size() == 1 ? "," : (i + 1 < t.shape().size() ? ", " : ""));
  shape += ")";
  std::string header = std::string("{'descr': '") + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(t.raw()), t.nbytes());
  write_file_atomic(path, bytes);
}

}  // namespace qvit
