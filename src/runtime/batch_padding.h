#pragma once
// The IR is static-shape, so a short final batch is zero-padded to the model's batch size and the
// padded rows are dropped from the outputs; a model exported with a fixed batch runs any number
// of images in chunks of its own batch.
#include <functional>
#include <vector>

#include "ir/tensor.h"

namespace qvit {

// `images` [n, ...] with n ≤ batch, zero-padded to [batch, ...] (returned as is when n == batch).
Tensor pad_batch(const Tensor& images, int64_t batch);
// The first n rows of t [N, ...] (t itself when N == n).
Tensor first_rows(Tensor t, int64_t n);
// Rows [begin, begin + count) of t [N, ...].
Tensor row_range(const Tensor& t, int64_t begin, int64_t count);

// Calls `run(chunk, valid_rows)` on consecutive chunks of exactly `chunk_rows` rows of `images`
// (the last one zero-padded; `valid_rows` says how many rows are real) and stacks the real rows
// of each of its outputs, so every output has images.shape()[0] rows again.
using ChunkFn = std::function<std::vector<Tensor>(const Tensor& chunk, int64_t valid_rows)>;
std::vector<Tensor> run_in_chunks(const Tensor& images, int64_t chunk_rows, const ChunkFn& run);
// The same, with the chunks run in parallel (qvit::parallel_for: each chunk on one thread, the
// parallel loops inside it serial) and told their index, so that per-chunk state needs no lock.
using IndexedChunkFn = std::function<std::vector<Tensor>(const Tensor& chunk, int64_t valid_rows, int64_t index)>;
std::vector<Tensor> run_chunks_in_parallel(const Tensor& images, int64_t chunk_rows, const IndexedChunkFn& run);

}  // namespace qvit
