#include "util/thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace qvit {
namespace {

thread_local bool t_inside_pool = false;

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work_loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      ++generation_;
      published_.store(generation_, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int64_t chunks, const std::function<void(int64_t)>& chunk_fn) {
    std::lock_guard<std::mutex> run_lock(run_mu_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &chunk_fn;
      chunks_ = chunks;
      next_.store(0);
      pending_.store(chunks);
      error_ = nullptr;
      ++generation_;
      published_.store(generation_, std::memory_order_release);
    }
    cv_.notify_all();
    drain();
    // Chunks still running on a worker usually end within microseconds: wait for them without
    // a syscall first (the check under the mutex below stays the real one).
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(30);
    while (pending_.load(std::memory_order_acquire) != 0 && std::chrono::steady_clock::now() < spin_until) cpu_relax();
    // Wait for chunks still running on workers, and for every worker to leave drain(): a worker
    // still in it when the next region resets the counters could take a chunk of that region
    // against this one's count, run it twice and leave pending_ below zero (a hang).
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return pending_.load() == 0 && draining_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void drain() {
    const bool was_inside = t_inside_pool;
    t_inside_pool = true;
    for (int64_t c; (c = next_.fetch_add(1)) < chunks_;) {
      try {
        (*job_)(c);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
      }
      if (pending_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(mu_);
        done_cv_.notify_all();
      }
    }
    t_inside_pool = was_inside;
  }

  void work_loop() {
    uint64_t seen = 0;
    for (;;) {
      // Spin briefly (a forward pass issues regions back to back), then sleep: first with pause
      // instructions (no syscall; the integer runtime's regions come every few microseconds at
      // batch 1), then yielding the core, so a loaded machine loses little to the spinning.
      const auto start = std::chrono::steady_clock::now();
      const auto pause_until = start + std::chrono::microseconds(30), spin_until = start + std::chrono::microseconds(2000);
      for (;;) {
        if (published_.load(std::memory_order_acquire) != seen) break;
        const auto now = std::chrono::steady_clock::now();
        if (now >= spin_until) break;
        if (now < pause_until) {
          for (int i = 0; i < 16; ++i) cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      if (!job_) continue;
      ++draining_;
      lk.unlock();
      drain();
      lk.lock();
      if (--draining_ == 0) done_cv_.notify_all();
    }
  }
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> published_{0};  // generation_, readable without the mutex (for the spin)
  int draining_ = 0;  // workers inside drain() (guarded by mu_)
  bool stop_ = false;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t chunks_ = 0;
  std::atomic<int64_t> next_{0}, pending_{0};
  std::exception_ptr error_;
};

int default_threads() {
  if (const char* env = std::getenv("QVIT_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

std::mutex g_pool_mu;
std::unique_ptr<Pool> g_pool;

Pool& pool() {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (!g_pool) g_pool = std::make_unique<Pool>(default_threads());
  return *g_pool;
}

}  // namespace

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  g_pool = std::make_unique<Pool>(n > 0 ? n : default_threads());
}

int num_threads() { return pool().size(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  Pool& p = pool();
  const int threads = p.size();
  if (t_inside_pool || threads == 1 || n < 2 * std::max<int64_t>(grain, 1)) {
    fn(0, n);
    return;
  }
  // A few chunks per thread, handed out dynamically: one preempted thread then delays the region
  // by a small chunk, not by half the work.
  const int64_t chunks = std::min<int64_t>(4 * threads, n / std::max<int64_t>(grain, 1));
  const int64_t per = (n + chunks - 1) / chunks;
  p.run(chunks, [&](int64_t c) {
    const int64_t b = c * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

}  // namespace qvit
