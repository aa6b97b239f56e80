#pragma once
// A small fork-join pool for the float executor's loops. Chosen over OpenMP so that waiting
// workers spin only briefly before sleeping: on a loaded machine (CI, a user's laptop) OpenMP's
// default busy-wait turned a 20 ms forward pass into 700 ms.
#include <cstdint>
#include <functional>

namespace qvit {

// Threads used by parallel_for (the caller counts as one). Default: QVIT_THREADS, else all cores.
void set_num_threads(int n);
int num_threads();

// Calls fn(begin, end) on contiguous chunks covering [0, n), in parallel when n ≥ 2·grain.
// Nested calls from inside a chunk run serially. Blocks until every chunk is done; the first
// exception thrown by a chunk is rethrown here.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace qvit
