#pragma once
// NumPy .npy files (format 1.0/2.0, little-endian, C order) for `qvit run` inputs and outputs.
#include <string>

#include "ir/tensor.h"

namespace qvit {

Tensor read_npy(const std::string& path);
// Written atomically (temporary file, then rename).
void write_npy(const std::string& path, const Tensor& t);

}  // namespace qvit
