#pragma once
// Deterministic sample subsets (e.g. the calibration images): chosen from labels and positions
// only, never at random, so every run and every machine calibrates on the same images.
#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace qvit::data {

// Indices 0 .. min(count, size) - 1.
std::vector<int64_t> select_first(const Dataset& dataset, int64_t count);

// The first `per_class` samples of every label, in dataset order (a class with fewer samples
// contributes all it has).
std::vector<int64_t> select_first_per_class(const Dataset& dataset, int64_t per_class);

}  // namespace qvit::data
