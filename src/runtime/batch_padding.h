#pragma once
// The IR is static-shape, so a short final batch is zero-padded to the model's batch size and the
// padded rows are dropped from the outputs.
#include "ir/tensor.h"

namespace qvit {

// `images` [n, ...] with n ≤ batch, zero-padded to [batch, ...] (returned as is when n == batch).
Tensor pad_batch(const Tensor& images, int64_t batch);
// The first n rows of t [N, ...] (t itself when N == n).
Tensor first_rows(Tensor t, int64_t n);

}  // namespace qvit
