#include "util/limits.h"

#include <cstdio>
#include <limits>

#include "util/error.h"

namespace qvit {
namespace {

ResourceLimits& mutable_limits() {
  static ResourceLimits limits;
  return limits;
}

std::string mib(int64_t bytes) {
  const double m = static_cast<double>(bytes) / (1024.0 * 1024.0);
  char buf[48];
  std::snprintf(buf, sizeof buf, m >= 10 ? "%.0f MiB" : "%.1f MiB", m);
  return buf;
}

}  // namespace

const ResourceLimits& resource_limits() { return mutable_limits(); }
void set_resource_limits(const ResourceLimits& limits) { mutable_limits() = limits; }

int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
  if (a < 0 || b < 0) throw Error(what + ": negative size");
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) throw Error(what + ": size overflows a 64-bit integer");
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
  if (a < 0 || b < 0) throw Error(what + ": negative size");
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) throw Error(what + ": size overflows a 64-bit integer");
  return r;
}

void check_tensor_bytes(int64_t numel, size_t elem_bytes, const std::string& what) {
  const int64_t cap = resource_limits().max_tensor_bytes;
  const int64_t per = static_cast<int64_t>(elem_bytes);
  if (numel < 0) throw Error(what + ": negative size");
  if (per > 0 && numel > cap / per)
    throw Error(what + ": needs " + (numel > std::numeric_limits<int64_t>::max() / per ? std::string("over 8 EiB") : mib(numel * per)) +
                ", above the cap of " + mib(cap) + " for one tensor (raise it with --max-tensor-mb)");
}

void check_image_pixels(int64_t width, int64_t height, const std::string& what) {
  const int64_t cap = resource_limits().max_image_pixels;
  if (width < 0 || height < 0) throw Error(what + ": negative image size");
  if (width > 0 && height > cap / width)
    throw Error(what + ": the header declares " + std::to_string(width) + "×" + std::to_string(height) +
                " pixels, above the cap of " + std::to_string(cap / 1'000'000) + " MP for one image (raise it with --max-image-mp)");
}

std::string clip_for_message(const std::string& text) {
  const size_t cap = resource_limits().max_echo_chars;
  if (text.size() <= cap) return text;
  size_t cut = cap;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return text.substr(0, cut) + "… (" + std::to_string(text.size()) + " characters)";
}

}  // namespace qvit
