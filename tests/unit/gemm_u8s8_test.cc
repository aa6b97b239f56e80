// The u8×s8→s32 GEMM (kernels/gemm_u8s8.h) on every kernel path this CPU supports, against
// (1) its reference (kernels/reference/gemm_u8s8.h) with random row and column offsets, and
// (2) the runtime's saturating ref::matmul on int32 copies of centered activations a - z: the
// gemmlowp identity (col_offset = bias - z·col_sums) must give exactly matmul's result, with zero
// truncations. Shapes: every m, n, k in 1..10 and a fixed random selection over 1..10, 15-17,
// 31-33, 197 (k also 3072), with padded strides and transposed B; value patterns that hit the
// vpmaddubsw saturation trap; bits 8 and 4; threads 1 and 2; the fused-epilogue callback.
#include "kernels/gemm_u8s8.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "kernels/reference/gemm_u8s8.h"
#include "kernels/reference/matmul.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace qvit::kernels {
namespace {

enum class Values { Random, MaxTimesMin, MaxTimesMax, Zeros, Alternating, Bound64, Bound65 };
constexpr Values kAllValues[] = {Values::Random,      Values::MaxTimesMin, Values::MaxTimesMax, Values::Zeros,
                                 Values::Alternating, Values::Bound64,     Values::Bound65};

const char* values_name(Values v) {
  switch (v) {
    case Values::Random: return "random";
    case Values::MaxTimesMin: return "255x-128";
    case Values::MaxTimesMax: return "255x127";
    case Values::Zeros: return "zeros";
    case Values::Alternating: return "alternating";
    case Values::Bound64: return "255x+-64";
    case Values::Bound65: return "255x+-65";
  }
  return "?";
}

// A's bytes end exactly at a page followed by an inaccessible one: a kernel reading past the last
// row's k bytes (the k % 4 tail) faults instead of passing by luck.
class GuardedBytes {
 public:
  explicit GuardedBytes(size_t size) : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    const size_t data_pages = (size + page_ - 1) / page_;
    total_ = (data_pages + 1) * page_;
    void* base = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    QVIT_CHECK(base != MAP_FAILED, "mmap failed");
    base_ = static_cast<uint8_t*>(base);
    QVIT_CHECK(mprotect(base_ + data_pages * page_, page_, PROT_NONE) == 0, "mprotect failed");
    data_ = base_ + data_pages * page_ - size;
  }
  ~GuardedBytes() { munmap(base_, total_); }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;
  uint8_t* data() { return data_; }

 private:
  size_t page_, total_ = 0;
  uint8_t* base_ = nullptr;
  uint8_t* data_ = nullptr;
};

struct Problem {
  int64_t m = 0, k = 0, n = 0, lda = 0, ldc = 0;
  int bits = 8;
  bool transposed = false;
  std::unique_ptr<GuardedBytes> a;  // [m, lda], the last row exactly k bytes
  std::vector<int8_t> b_rows;       // B[k, n] row-major (the references' input)
  std::vector<int8_t> b_stored;     // B as pack_s8 reads it: row-major with padding, or transposed
  int64_t row_stride = 0, col_stride = 0;
  std::vector<int32_t> col_offset, row_offset;
};

Problem make_problem(int64_t m, int64_t k, int64_t n, Values values, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Problem p;
  p.m = m, p.k = k, p.n = n, p.bits = bits;
  p.lda = k + (seed % 3 == 0 ? 0 : uniform(1, 9));
  p.ldc = n + (seed % 4 == 0 ? 0 : uniform(1, 5));
  p.transposed = seed % 2 == 1;
  const int lo = bits == 4 ? -8 : -128, hi = bits == 4 ? 7 : 127;
  const size_t a_size = static_cast<size_t>((m - 1) * p.lda + k);
  p.a = std::make_unique<GuardedBytes>(a_size);
  p.b_rows.resize(static_cast<size_t>(k * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t t = 0; t < k; ++t) {
      int v = 255;
      if (values == Values::Random) v = uniform(0, 255);
      if (values == Values::Zeros) v = 0;
      if (values == Values::Alternating) v = (i + t) % 2 == 0 ? 255 : 0;
      p.a->data()[i * p.lda + t] = static_cast<uint8_t>(v);
    }
  for (int64_t t = 0; t < k; ++t)
    for (int64_t j = 0; j < n; ++j) {
      int v = 0;
      switch (values) {
        case Values::Random: v = uniform(lo, hi); break;
        case Values::MaxTimesMin: v = lo; break;
        case Values::MaxTimesMax: v = hi; break;
        case Values::Zeros: v = 0; break;
        case Values::Alternating: v = (t + j) % 2 == 0 ? lo : hi; break;
        case Values::Bound64: v = uniform(0, 1) ? 64 : -64; break;
        case Values::Bound65: v = uniform(0, 1) ? 65 : -65; break;
      }
      p.b_rows[static_cast<size_t>(t * n + j)] = static_cast<int8_t>(v);
    }
  // Padded strides either way round: B[t, j] at b_stored[t·row_stride + j·col_stride].
  const int64_t pad = uniform(0, 3);
  if (p.transposed) {
    p.row_stride = 1, p.col_stride = k + pad;
  } else {
    p.row_stride = n + pad, p.col_stride = 1;
  }
  p.b_stored.assign(static_cast<size_t>((p.transposed ? n : k) * (p.transposed ? k + pad : n + pad)), 0);
  for (int64_t t = 0; t < k; ++t)
    for (int64_t j = 0; j < n; ++j)
      p.b_stored[static_cast<size_t>(t * p.row_stride + j * p.col_stride)] = p.b_rows[static_cast<size_t>(t * n + j)];
  p.col_offset.resize(static_cast<size_t>(n));
  p.row_offset.resize(static_cast<size_t>(m));
  for (auto& v : p.col_offset) v = uniform(-1000000, 1000000);
  for (auto& v : p.row_offset) v = uniform(-1000000, 1000000);
  return p;
}

PackedS8 pack_for(const Problem& p, KernelPath path) {
  ScopedKernelPath scope(path);
  return pack_s8(p.b_stored.data(), p.row_stride, p.col_stride, p.k, p.n, active_kernel_path(), p.bits);
}

std::vector<int32_t> run(const Problem& p, const PackedS8& b, const int32_t* col_offset, const int32_t* row_offset) {
  std::vector<int32_t> c(static_cast<size_t>(p.m * p.ldc), -7);  // -7: the padding must survive
  gemm_u8s8(p.a->data(), p.lda, p.m, b, col_offset, row_offset, c.data(), p.ldc);
  return c;
}

// Compares C [m, ldc] with want [m, n] (row stride n), and that C's row padding is untouched.
::testing::AssertionResult same(const Problem& p, const std::vector<int32_t>& c, const std::vector<int32_t>& want) {
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.ldc; ++j) {
      const int32_t expected = j < p.n ? want[static_cast<size_t>(i * p.n + j)] : -7;
      if (c[static_cast<size_t>(i * p.ldc + j)] != expected)
        return ::testing::AssertionFailure() << "C[" << i << ", " << j << "] = " << c[static_cast<size_t>(i * p.ldc + j)]
                                             << ", want " << expected;
    }
  return ::testing::AssertionSuccess();
}

// (1) and (2) of the file comment for one problem on every supported path.
void check_all_paths(const Problem& p, int32_t zero_point) {
  // (1) the reference with random offsets.
  std::vector<int32_t> want(static_cast<size_t>(p.m * p.n));
  ref::gemm_u8s8(p.a->data(), static_cast<int32_t>(p.lda), static_cast<int32_t>(p.m), p.b_rows.data(), static_cast<int32_t>(p.k),
                 static_cast<int32_t>(p.n), p.col_offset.data(), p.row_offset.data(),
                 want.data(), p.n);
  // (2) ref::matmul on int32 copies: (a - z) · B + bias.
  std::vector<int32_t> a32(static_cast<size_t>(p.m * p.k)), b32(p.b_rows.begin(), p.b_rows.end());
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t t = 0; t < p.k; ++t) a32[static_cast<size_t>(i * p.k + t)] = p.a->data()[i * p.lda + t] - zero_point;
  const std::vector<int32_t>& bias = p.col_offset;
  std::vector<int32_t> want_matmul(static_cast<size_t>(p.m * p.n));
  TruncationStats stats;
  ref::matmul(a32.data(), b32.data(), bias.data(), want_matmul.data(), static_cast<int32_t>(p.m),
              static_cast<int32_t>(p.k), static_cast<int32_t>(p.n), &stats);
  ASSERT_EQ(stats.events, 0u);

  for (KernelPath path : supported_kernel_paths()) {
    SCOPED_TRACE(kernel_path_name(path));
    const PackedS8 b = pack_for(p, path);
    ASSERT_EQ(b.path, path);
    ASSERT_TRUE(same(p, run(p, b, p.col_offset.data(), p.row_offset.data()), want));
    std::vector<int32_t> gemmlowp_offset(static_cast<size_t>(p.n));
    for (int64_t j = 0; j < p.n; ++j)
      gemmlowp_offset[static_cast<size_t>(j)] = bias[static_cast<size_t>(j)] - zero_point * b.col_sums[static_cast<size_t>(j)];
    ASSERT_TRUE(same(p, run(p, b, gemmlowp_offset.data(), nullptr), want_matmul));
  }
}

std::string describe(const Problem& p, Values v) {
  return "m=" + std::to_string(p.m) + " k=" + std::to_string(p.k) + " n=" + std::to_string(p.n) +
         " lda=" + std::to_string(p.lda) + " ldc=" + std::to_string(p.ldc) + " bits=" + std::to_string(p.bits) +
         (p.transposed ? " transposed " : " ") + values_name(v);
}

TEST(GemmU8S8, AllSmallShapesMatchTheReferences) {
  uint32_t seed = 1;
  for (int64_t m = 1; m <= 10; ++m)
    for (int64_t k = 1; k <= 10; ++k)
      for (int64_t n = 1; n <= 10; ++n, ++seed) {
        const Values v = kAllValues[seed % 7];
        const int bits = (seed / 7) % 2 == 0 ? 8 : 4;
        const Problem p = make_problem(m, k, n, v, v == Values::Bound64 || v == Values::Bound65 ? 8 : bits, seed);
        SCOPED_TRACE(describe(p, v));
        ASSERT_NO_FATAL_FAILURE(check_all_paths(p, 128));
      }
}

TEST(GemmU8S8, EdgeAndDeepShapesMatchTheReferences) {
  const std::vector<int64_t> sizes = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16, 17, 31, 32, 33, 197};
  std::vector<int64_t> depths = sizes;
  depths.push_back(3072);
  std::mt19937 rng(2024);
  auto pick = [&](const std::vector<int64_t>& from) { return from[rng() % from.size()]; };
  int done = 0;
  for (uint32_t seed = 1000; done < 300; ++seed) {
    const int64_t m = pick(sizes), k = pick(depths), n = pick(sizes);
    if (m * n * k > 8'000'000) continue;  // keeps the scalar references fast
    ++done;
    const Values v = kAllValues[seed % 7];
    const int bits = v == Values::Bound64 || v == Values::Bound65 || (seed / 7) % 2 == 0 ? 8 : 4;
    const Problem p = make_problem(m, k, n, v, bits, seed);
    SCOPED_TRACE(describe(p, v));
    ASSERT_NO_FATAL_FAILURE(check_all_paths(p, seed % 3 == 0 ? 128 : static_cast<int32_t>(seed % 256)));
  }
}

TEST(GemmU8S8, Avx2VariantSwitchesExactlyPastMaxAbs64) {
  for (Values v : {Values::Bound64, Values::Bound65}) {
    const Problem p = make_problem(9, 67, 33, v, 8, 5);
    const PackedS8 b = pack_for(p, KernelPath::Ref);
    EXPECT_EQ(b.max_abs, v == Values::Bound64 ? 64 : 65);
    EXPECT_EQ(b.avx2_maddubs, v == Values::Bound64);  // 2·255·64 = 32640 ≤ 32767 < 2·255·65
  }
  const Problem p4 = make_problem(3, 8, 5, Values::MaxTimesMin, 4, 5);
  EXPECT_TRUE(pack_for(p4, KernelPath::Ref).avx2_maddubs);  // 4-bit B: always the vpmaddubsw variant
}

TEST(GemmU8S8, FourBitPanelsAreHalfTheBytes) {
  for (KernelPath path : supported_kernel_paths()) {
    if (path == KernelPath::Ref) continue;
    Problem p8 = make_problem(2, 64, 48, Values::Random, 4, 3);
    const PackedS8 b4 = pack_for(p8, path);
    p8.bits = 8;  // the same 4-bit values as int8 (the vpmaddubsw variant on avx2: same layout)
    EXPECT_EQ(b4.data.size() * 2, pack_for(p8, path).data.size()) << kernel_path_name(path);
  }
}

TEST(GemmU8S8, EmptyDepthGivesTheOffsetsAndNoRowsNoCall) {
  const int32_t col_offset[3] = {5, -6, 7}, row_offset[2] = {100, -200};
  const uint8_t a[1] = {0};
  for (KernelPath path : supported_kernel_paths()) {
    const PackedS8 b = pack_s8(nullptr, 3, 1, 0, 3, path);
    int32_t c[6] = {};
    gemm_u8s8(a, 0, 2, b, col_offset, row_offset, c, 3);
    EXPECT_EQ(std::vector<int32_t>(c, c + 6), (std::vector<int32_t>{105, 94, 107, -195, -206, -193})) << kernel_path_name(path);
    int calls = 0;
    const std::function<void(int64_t, int64_t)> count = [&](int64_t, int64_t) { ++calls; };
    gemm_u8s8(a, 0, 0, b, col_offset, row_offset, c, 3, &count);
    EXPECT_EQ(calls, 0);
  }
}

TEST(GemmU8S8, PackRejectsBadInput) {
  const int8_t b[4] = {1, -9, 3, 4};
  EXPECT_THROW(pack_s8(b, 2, 1, 2, 2, KernelPath::Plain, 4), InternalError);  // -9 is not 4-bit
  EXPECT_NO_THROW(pack_s8(b, 2, 1, 2, 2, KernelPath::Plain, 8));
  EXPECT_THROW(pack_s8(b, 2, 1, 2, 2, KernelPath::Plain, 5), InternalError);
}

// One and two threads give the same C, and after_rows covers every row exactly once, each call
// seeing its rows final (all columns).
TEST(GemmU8S8, ThreadsAgreeAndAfterRowsCoversEveryRowOnce) {
  const int threads_before = num_threads();
  struct Shape {
    int64_t m, k, n;
  };
  for (const Shape s : {Shape{1, 5, 3}, Shape{7, 33, 17}, Shape{197, 384, 384}, Shape{200, 1536, 100}}) {
    const Problem p = make_problem(s.m, s.k, s.n, Values::Random, 8, 11);
    std::vector<int32_t> want(static_cast<size_t>(p.m * p.n));
    ref::gemm_u8s8(p.a->data(), static_cast<int32_t>(p.lda), static_cast<int32_t>(p.m), p.b_rows.data(), static_cast<int32_t>(p.k),
                 static_cast<int32_t>(p.n), p.col_offset.data(), p.row_offset.data(),
                 want.data(), static_cast<int32_t>(p.n));
    for (KernelPath path : supported_kernel_paths()) {
      const PackedS8 b = pack_for(p, path);
      for (int threads : {1, 2}) {
        SCOPED_TRACE(std::string(kernel_path_name(path)) + " threads=" + std::to_string(threads) + " m=" +
                     std::to_string(s.m));
        set_num_threads(threads);
        std::vector<int32_t> c(static_cast<size_t>(p.m * p.ldc), -7), seen(c.size(), -7);
        std::vector<std::atomic<int>> calls(static_cast<size_t>(p.m));
        const std::function<void(int64_t, int64_t)> after = [&](int64_t r0, int64_t r1) {
          ASSERT_TRUE(0 <= r0 && r0 < r1 && r1 <= p.m);
          for (int64_t i = r0; i < r1; ++i) {
            calls[static_cast<size_t>(i)].fetch_add(1);
            for (int64_t j = 0; j < p.ldc; ++j) seen[static_cast<size_t>(i * p.ldc + j)] = c[static_cast<size_t>(i * p.ldc + j)];
          }
        };
        gemm_u8s8(p.a->data(), p.lda, p.m, b, p.col_offset.data(), p.row_offset.data(), c.data(), p.ldc, &after);
        ASSERT_TRUE(same(p, c, want));
        ASSERT_TRUE(same(p, seen, want));  // the rows were complete when after_rows ran
        for (int64_t i = 0; i < p.m; ++i) ASSERT_EQ(calls[static_cast<size_t>(i)].load(), 1) << "row " << i;
      }
    }
  }
  set_num_threads(threads_before);
}

}  // namespace
}  // namespace qvit::kernels
