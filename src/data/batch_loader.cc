#include "data/batch_loader.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <numeric>
#include <thread>

#include <spdlog/spdlog.h>

#include "data/image.h"

namespace qvit::data {
namespace {

struct SampleOutcome {
  enum Kind { Loaded, BadImage, Failed } kind = Loaded;
  std::string bad_image_message;
  std::exception_ptr failure;
};

// Calls work(0..count-1) on up to `threads` threads; work must not throw.
template <class Work>
void for_each_parallel(int64_t count, int threads, const Work& work) {
  std::atomic<int64_t> next{0};
  auto drain = [&] {
    for (int64_t k = next.fetch_add(1); k < count; k = next.fetch_add(1)) work(k);
  };
  const int64_t extra_threads = std::min<int64_t>(threads, count) - 1;
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < extra_threads; ++t) pool.emplace_back(drain);
  drain();
  for (auto& th : pool) th.join();
}

}  // namespace

void SkippedImages::add(const std::string& id, const std::string& message) {
  if (ids_.empty()) first_reason_ = message;
  if (count() < logged_) spdlog::warn("{}{}", prefix_, message);
  ids_.push_back(id);
}

void SkippedImages::clear() {
  ids_.clear();
  first_reason_.clear();
}

std::vector<std::string> SkippedImages::examples() const {
  return {ids_.begin(), ids_.begin() + std::min<int64_t>(count(), kExamples)};
}

std::string SkippedImages::summary(int64_t visited) const {
  std::string s = "skipped " + std::to_string(count()) + " unreadable image(s) of " + std::to_string(visited);
  if (ids_.empty()) return s;
  s += "; first: " + first_reason_;
  const int64_t named = std::min<int64_t>(count(), kLogged);
  for (int64_t i = 1; i < named; ++i) s += (i == 1 ? "; then " : ", ") + ids_[static_cast<size_t>(i)];
  if (count() > named) s += " and " + std::to_string(count() - named) + " more";  // named == kLogged here
  return s;
}

BatchLoader::BatchLoader(const Dataset& dataset, BatchLoaderOptions options)
    : BatchLoader(dataset, [&] {
        std::vector<int64_t> all(static_cast<size_t>(dataset.size()));
        std::iota(all.begin(), all.end(), int64_t{0});
        return all;
      }(), options) {}

BatchLoader::BatchLoader(const Dataset& dataset, std::vector<int64_t> indices, BatchLoaderOptions options)
    : dataset_(dataset), order_(std::move(indices)), options_(options) {
  QVIT_CHECK(options_.batch_size > 0, "BatchLoader: batch_size must be positive");
  QVIT_CHECK(options_.num_threads > 0, "BatchLoader: num_threads must be positive");
  for (int64_t i : order_) QVIT_CHECK(i >= 0 && i < dataset_.size(), "BatchLoader: sample index out of range");
  if (options_.limit >= 0 && options_.limit < num_samples()) order_.resize(static_cast<size_t>(options_.limit));
}

int64_t BatchLoader::num_batches() const { return (num_samples() + options_.batch_size - 1) / options_.batch_size; }

bool BatchLoader::next(Batch& batch) {
  const int64_t numel = dataset_.sample_numel();
  while (position_ < num_samples()) {
    const int64_t count = std::min(options_.batch_size, num_samples() - position_);
    const int64_t* indices = order_.data() + position_;
    position_ += count;
    scratch_.resize(static_cast<size_t>(count * numel));

    std::vector<SampleOutcome> outcomes(static_cast<size_t>(count));
    for_each_parallel(count, options_.num_threads, [&](int64_t k) {
      SampleOutcome& out = outcomes[static_cast<size_t>(k)];
      try {
        dataset_.load(indices[k], scratch_.data() + k * numel);
      } catch (const BadImageError& e) {
        out.kind = SampleOutcome::BadImage;
        out.bad_image_message = e.what();
      } catch (...) {
        out.kind = SampleOutcome::Failed;
        out.failure = std::current_exception();
      }
    });

    // Outcomes are examined in visiting order, so the error reported (or the skip log) does not
    // depend on thread timing.
    std::vector<int64_t> loaded;
    for (int64_t k = 0; k < count; ++k) {
      const SampleOutcome& out = outcomes[static_cast<size_t>(k)];
      if (out.kind == SampleOutcome::Failed) std::rethrow_exception(out.failure);
      if (out.kind == SampleOutcome::BadImage) {
        if (!options_.skip_bad) throw BadImageError(out.bad_image_message);
        skipped_.add(dataset_.id(indices[k]), out.bad_image_message);
        continue;
      }
      loaded.push_back(k);
    }
    if (loaded.empty()) continue;

    Shape shape = dataset_.sample_shape();
    shape.insert(shape.begin(), static_cast<int64_t>(loaded.size()));
    batch.images = Tensor(DType::Float32, shape);
    batch.labels.clear();
    batch.ids.clear();
    float* dst = batch.images.data<float>();
    for (size_t j = 0; j < loaded.size(); ++j) {
      const int64_t k = loaded[j];
      std::memcpy(dst + j * numel, scratch_.data() + k * numel, static_cast<size_t>(numel) * sizeof(float));
      batch.labels.push_back(dataset_.label(indices[k]));
      batch.ids.push_back(dataset_.id(indices[k]));
    }
    return true;
  }
  return false;
}

}  // namespace qvit::data
