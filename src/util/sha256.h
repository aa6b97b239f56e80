#pragma once
// SHA-256 (FIPS 180-4), to fingerprint model files in calibration results.
#include <cstdint>
#include <string>
#include <string_view>

namespace qvit {

std::string sha256_hex(std::string_view bytes);

}  // namespace qvit
