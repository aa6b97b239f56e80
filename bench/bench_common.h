#pragma once
// Shared helpers of qvit's Google Benchmark programs: flags of our own that are parsed and removed
// from argv before benchmark::Initialize sees it, and deterministic test inputs.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace qvit::bench {

// Removes every `--name=value` (or bare `--name`, value "") from argv and returns the last value.
std::optional<std::string> take_flag(int& argc, char** argv, const std::string& name);
// Comma-separated positive integers ("1,8"); throws qvit::Error naming `what` otherwise.
std::vector<int64_t> parse_int_list(const std::string& s, const std::string& what);
int64_t parse_positive(const std::string& s, const std::string& what);
// Float32 tensor of `shape` filled with uniform values in [-1, 1) from a fixed seed.
Tensor random_tensor(const Shape& shape, uint32_t seed = 12345);

}  // namespace qvit::bench
