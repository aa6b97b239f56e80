#pragma once
// Resource bounds for everything qvit reads from a file. Sizes in a model, an .npy, an IDX file,
// an image header or a JSON document are untrusted: they are multiplied with overflow checks and
// compared with these caps (and with the bytes actually present) before anything is allocated,
// so a 100-byte file cannot crash qvit or take the machine. The caps are process-wide, set once
// by the CLI (--max-tensor-mb, --max-image-mp) before any work starts.
#include <cstddef>
#include <cstdint>
#include <string>

namespace qvit {

struct ResourceLimits {
  // One tensor's bytes (a folded constant, an initializer, an activation, an .npy array).
  int64_t max_tensor_bytes = int64_t{2} << 30;
  // One decoded image, in pixels, checked from the header before decoding.
  int64_t max_image_pixels = 100'000'000;
  // Nesting depth of a JSON document (configs, recipes and calibration files use about 5).
  int max_json_depth = 64;
  // Characters of a bad value echoed in an error message.
  size_t max_echo_chars = 120;
};

// The process-wide limits (mutable only through set_resource_limits).
const ResourceLimits& resource_limits();
void set_resource_limits(const ResourceLimits& limits);

// a·b and a+b of non-negative sizes; an Error "<what>: size overflows ..." if the result does not
// fit int64.
int64_t checked_mul(int64_t a, int64_t b, const std::string& what);
int64_t checked_add(int64_t a, int64_t b, const std::string& what);

// Error "<what>: needs N MiB, above the cap of M MiB (--max-tensor-mb)" unless numel·elem_bytes
// fits max_tensor_bytes. Overflow-safe for any numel ≥ 0.
void check_tensor_bytes(int64_t numel, size_t elem_bytes, const std::string& what);
// Error "<what>: W×H image ... above the cap of ..." unless width·height fits max_image_pixels.
void check_image_pixels(int64_t width, int64_t height, const std::string& what);

// `text` cut to max_echo_chars (with "…" and the full length), for echoing untrusted values.
std::string clip_for_message(const std::string& text);

}  // namespace qvit
