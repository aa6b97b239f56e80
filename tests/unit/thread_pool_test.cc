#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace qvit {
namespace {

TEST(ThreadPool, CoversRangeExactlyOnce) {
  for (int64_t n : {1, 2, 3, 7, 100, 12345}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << n << " " << i;
  }
}

TEST(ThreadPool, NestedCallsRunSeriallyAndExceptionsPropagate) {
  std::atomic<int64_t> total{0};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) parallel_for(10, 1, [&](int64_t s, int64_t t) { total += t - s; });
  });
  EXPECT_EQ(total.load(), 80);
  EXPECT_THROW(parallel_for(100, 1, [](int64_t b, int64_t) {
                 if (b > 0) throw std::runtime_error("boom");
               }),
               std::runtime_error);
  // The pool still works after an exception.
  std::atomic<int64_t> after{0};
  parallel_for(100, 1, [&](int64_t b, int64_t e) { after += e - b; });
  EXPECT_EQ(after.load(), 100);
}

// Regions back to back with changing chunk counts: a worker late from one region must never take
// a chunk of the next (that ran chunks twice and could hang the caller forever).
TEST(ThreadPool, BackToBackRegionsOfChangingSizeRunEachChunkOnce) {
  for (int round = 0; round < 20000; ++round) {
    const int64_t n = 2 + (round * 7919) % 13;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "round " << round << " n " << n << " i " << i;
  }
}

}  // namespace
}  // namespace qvit
