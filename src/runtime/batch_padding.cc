#include "runtime/batch_padding.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "util/error.h"
#include "util/thread_pool.h"

namespace qvit {

Tensor pad_batch(const Tensor& images, int64_t batch) {
  const int64_t n = images.shape()[0];
  if (n == batch) return images;
  if (n > batch) throw InternalError("batch of " + std::to_string(n) + " is larger than the model's " + std::to_string(batch));
  Shape s = images.shape();
  s[0] = batch;
  Tensor p(images.dtype(), s);
  if (images.nbytes()) std::memcpy(p.raw(), images.raw(), images.nbytes());
  return p;
}

Tensor first_rows(Tensor t, int64_t n) {
  if (t.shape()[0] == n) return t;
  return row_range(t, 0, n);
}

Tensor row_range(const Tensor& t, int64_t begin, int64_t count) {
  const int64_t rows = t.shape().at(0);
  if (begin < 0 || count < 0 || begin + count > rows)
    throw InternalError("row_range: rows [" + std::to_string(begin) + ", +" + std::to_string(count) + ") of " +
                        std::to_string(rows));
  Shape s = t.shape();
  s[0] = count;
  Tensor out(t.dtype(), s, Tensor::Uninitialized{});
  const size_t row_bytes = rows ? t.nbytes() / static_cast<size_t>(rows) : 0;
  if (out.nbytes()) std::memcpy(out.raw(), t.raw() + static_cast<size_t>(begin) * row_bytes, out.nbytes());
  return out;
}

namespace {

// Copies the real rows of one chunk's outputs into `out` at row `begin` (allocating `out` from
// the first chunk's shapes with n rows).
void place_chunk(std::vector<Tensor>& out, const std::vector<Tensor>& part, int64_t begin, int64_t valid,
                 int64_t chunk_rows, int64_t n) {
  if (out.empty()) {
    for (const Tensor& p : part) {
      Shape s = p.shape();
      s.at(0) = n;
      out.emplace_back(p.dtype(), s, Tensor::Uninitialized{});
    }
  }
  if (part.size() != out.size()) throw InternalError("run_in_chunks: output count changed between chunks");
  for (size_t k = 0; k < part.size(); ++k) {
    const size_t row_bytes = part[k].nbytes() / static_cast<size_t>(chunk_rows);
    if (part[k].shape().at(0) != chunk_rows || row_bytes * static_cast<size_t>(n) != out[k].nbytes())
      throw InternalError("run_in_chunks: output " + std::to_string(k) + " is not one row per image");
    if (row_bytes)
      std::memcpy(out[k].raw() + static_cast<size_t>(begin) * row_bytes, part[k].raw(), static_cast<size_t>(valid) * row_bytes);
  }
}

void check_chunking(int64_t n, int64_t chunk_rows) {
  if (chunk_rows < 1 || n < 1) throw InternalError("run_in_chunks: " + std::to_string(n) + " rows in chunks of " +
                                                   std::to_string(chunk_rows));
}

}  // namespace

std::vector<Tensor> run_in_chunks(const Tensor& images, int64_t chunk_rows, const ChunkFn& run) {
  const int64_t n = images.shape().at(0);
  check_chunking(n, chunk_rows);
  if (n == chunk_rows) {
    std::vector<Tensor> out = run(images, n);
    return out;
  }
  std::vector<Tensor> out;
  for (int64_t begin = 0; begin < n; begin += chunk_rows) {
    const int64_t valid = std::min(chunk_rows, n - begin);
    place_chunk(out, run(pad_batch(row_range(images, begin, valid), chunk_rows), valid), begin, valid, chunk_rows, n);
  }
  return out;
}

std::vector<Tensor> run_chunks_in_parallel(const Tensor& images, int64_t chunk_rows, const IndexedChunkFn& run) {
  const int64_t n = images.shape().at(0);
  check_chunking(n, chunk_rows);
  const int64_t chunks = (n + chunk_rows - 1) / chunk_rows;
  std::vector<std::vector<Tensor>> parts(static_cast<size_t>(chunks));
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t begin = c * chunk_rows, valid = std::min(chunk_rows, n - begin);
      parts[static_cast<size_t>(c)] = run(pad_batch(row_range(images, begin, valid), chunk_rows), valid, c);
    }
  });
  std::vector<Tensor> out;
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * chunk_rows;
    place_chunk(out, parts[static_cast<size_t>(c)], begin, std::min(chunk_rows, n - begin), chunk_rows, n);
  }
  return out;
}

}  // namespace qvit
