// Every kernel path of kernels/eltwise_kernels.h against the reference kernels, bit for bit and
// truncation counts included, at one and two threads: lengths around the vector widths, rows of
// the MLSys'23 shapes, values at every scale up to INT32_MIN/MAX, and parameters from the
// lowering's make_* functions as well as their whole ranges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/dyadic.h"
#include "kernels/eltwise_kernels.h"
#include "kernels/kernel_params.h"
#include "kernels/kernel_path.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace qvit::kernels {
namespace {

using testing::random_ints;

constexpr int32_t kLengths[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16, 17, 31, 32, 33, 197, 384, 768, 3072};
constexpr int32_t kManyRows = 197 * 8;

struct Shape {
  int32_t rows, length;
  int32_t count() const { return rows * length; }
};

// Rows 1 and 3 of every length, and the many rows of a batch-8 ViT (threads split those).
std::vector<Shape> test_shapes(std::initializer_list<int32_t> many_row_lengths) {
  std::vector<Shape> shapes;
  for (int32_t length : kLengths)
    for (int32_t rows : {1, 3}) shapes.push_back({rows, length});
  for (int32_t length : many_row_lengths) shapes.push_back({kManyRows, length});
  return shapes;
}

// n threads for a scope (0: leave the pool as it is).
class ScopedThreads {
 public:
  explicit ScopedThreads(int n) : previous_(n > 0 ? num_threads() : 0) {
    if (n > 0) set_num_threads(n);
  }
  ~ScopedThreads() {
    if (previous_ > 0) set_num_threads(previous_);
  }

 private:
  int previous_;
};

// Values of every magnitude: uniform in [-2^k, 2^k) for a random k in [1, 31], and one in eight
// from the edges: 0, ±1, INT32_MIN/MAX and their neighbours, the ±max codes of 2..8 and 16 bits.
std::vector<int32_t> mixed_values(int32_t count, uint32_t seed) {
  std::vector<int32_t> edges = {0, 1, -1, kInt32Min, kInt32Max, kInt32Min + 1, kInt32Max - 1};
  for (int32_t bits : {2, 3, 4, 5, 6, 7, 8, 16})
    for (int32_t v : {(1 << (bits - 1)) - 1, -(1 << (bits - 1)), (1 << bits) - 1, -((1 << bits) - 1)}) edges.push_back(v);
  std::mt19937 rng(seed);
  std::vector<int32_t> v(count);
  for (auto& x : v) {
    if (rng() % 8 == 0) {
      x = edges[rng() % edges.size()];
    } else {
      const int32_t k = 1 + static_cast<int32_t>(rng() % 31);
      x = static_cast<int32_t>(std::uniform_int_distribution<int64_t>(-(int64_t{1} << k), (int64_t{1} << k) - 1)(rng));
    }
  }
  return v;
}

struct ValueSet {
  const char* name;
  std::vector<int32_t> values;
};

std::vector<ValueSet> value_sets(int32_t count, uint32_t seed) {
  return {{"int8", random_ints(count, -128, 127, seed)},
          {"int16", random_ints(count, -32768, 32767, seed + 1)},
          {"mixed", mixed_values(count, seed + 2)}};
}

using Call = std::function<void(int32_t* out, TruncationStats* stats)>;

// Below this many outputs every kernel runs in one chunk (parallel_for needs 2 grains of work),
// so the thread count cannot matter and the pool is not rebuilt for it.
constexpr size_t kThreadedSize = 8192;

// Runs the reference, then the dispatched kernel on every supported path (at 1 and 2 threads for
// large outputs), and expects the same outputs and counts. Returns the reference's events (for
// non-vacuity checks).
uint64_t expect_paths_match(size_t out_size, const Call& reference, const Call& dispatched, const std::string& what) {
  std::vector<int32_t> expected(out_size, 0x5EED), got(out_size);
  TruncationStats expected_stats;
  reference(expected.data(), &expected_stats);
  const std::vector<int> thread_counts = out_size >= kThreadedSize ? std::vector<int>{1, 2} : std::vector<int>{0};
  for (KernelPath path : supported_kernel_paths()) {
    ScopedKernelPath scoped(path);
    for (int threads : thread_counts) {
      ScopedThreads scoped_threads(threads);
      std::fill(got.begin(), got.end(), 0x7EED);
      TruncationStats stats;
      dispatched(got.data(), &stats);
      const std::string where = what + " on " + kernel_path_name(path) + ", " + std::to_string(num_threads()) + " threads";
      const auto diff = std::mismatch(expected.begin(), expected.end(), got.begin());
      if (diff.first != expected.end()) {
        ADD_FAILURE() << where << ": element " << (diff.first - expected.begin()) << " is " << *diff.second
                      << ", the reference's " << *diff.first;
        return expected_stats.events;
      }
      if (stats.events != expected_stats.events || stats.elements != expected_stats.elements) {
        ADD_FAILURE() << where << ": " << stats.events << " events in " << stats.elements << " elements, the reference "
                      << expected_stats.events << " in " << expected_stats.elements;
        return expected_stats.events;
      }
    }
  }
  return expected_stats.events;
}

// The shifts and multipliers of Requant over their whole range: every shift 0..33, 62 (make_requant's
// cap) and a negative one (treated as 0).
const std::vector<int32_t> kShifts = [] {
  std::vector<int32_t> shifts = {62, -1};
  for (int32_t s = 0; s <= 33; ++s) shifts.push_back(s);
  return shifts;
}();
const std::vector<int32_t> kMultipliers = {0, 1, -1, 2, 12345, 1 << 30, kInt32Max, kInt32Min, -7, 1518500250};

Requant random_requant(std::mt19937& rng) {
  return {kShifts[rng() % kShifts.size()], kMultipliers[rng() % kMultipliers.size()], kShifts[rng() % kShifts.size()]};
}

// Clamp ranges of every bit width (unsigned with zero point 0, symmetric, and fully shifted) and
// the whole int32 range.
std::vector<ref::ClampRange> clamp_ranges() {
  std::vector<ref::ClampRange> ranges = {{kInt32Min, kInt32Max}};
  for (int32_t bits = 2; bits <= 8; ++bits)
    for (int32_t z : {0, 1 << (bits - 1), (1 << bits) - 1}) ranges.push_back(ref::centered_range(bits, z));
  return ranges;
}

TEST(EltwiseKernels, ShiftGeluMatchesReference) {
  const std::vector<ref::ShiftGeluParams> params = {
      make_shiftgelu_params(8.0 / 128, 8),        // 8-bit input over [-8, 8), I-ViT's setting
      make_shiftgelu_params(8.0 / 32768, 16),     // 16-bit input: x * sigmoid leaves int32
      make_shiftgelu_params(0.5, 31),
      make_shiftgelu_params(1e-6, 2),
      ref::ShiftGeluParams{{-16, 23}, 8},         // sum shift 13
      ref::ShiftGeluParams{{-1, 0}, 2},
      ref::ShiftGeluParams{{-(1 << 20), 30}, 8},  // e^0 = 2^50 saturates: every element is lost
      ref::ShiftGeluParams{{-(1 << 30), 1}, 31},
  };
  uint64_t events = 0;
  for (size_t pi = 0; pi < params.size(); ++pi) {
    for (const Shape& shape : test_shapes({17, 64})) {
      for (const ValueSet& set : value_sets(shape.count(), 100 + shape.count())) {
        const int32_t n = shape.count();
        const int32_t* x = set.values.data();
        const ref::ShiftGeluParams& p = params[pi];
        events += expect_paths_match(
            n, [&](int32_t* y, TruncationStats* s) { ref::shiftgelu(x, y, n, p, s); },
            [&](int32_t* y, TruncationStats* s) { kernels::shiftgelu(x, y, n, p, s); },
            "shiftgelu params " + std::to_string(pi) + " " + set.name + " n " + std::to_string(n));
      }
    }
  }
  EXPECT_GT(events, 0u);
}

TEST(EltwiseKernels, IBertGeluMatchesReference) {
  const std::vector<ref::IBertGeluParams> params = {
      make_ibert_gelu_params(8.0 / 32768, 0),  // the published form on 16-bit input: overflows
      make_int32safe_gelu_params(8.0 / 512),
      make_ibert_gelu_params(8.0 / 128, 5),
      make_ibert_gelu_params(0.9, 31),
      ref::IBertGeluParams{{50000, 1 << 30, 0}, kInt32Max},  // squares and 1 + erf saturate
      ref::IBertGeluParams{{1, 0, 3}, kInt32Min},
  };
  uint64_t events = 0;
  for (size_t pi = 0; pi < params.size(); ++pi) {
    for (const Shape& shape : test_shapes({17, 64})) {
      for (const ValueSet& set : value_sets(shape.count(), 200 + shape.count())) {
        const int32_t n = shape.count();
        const int32_t* x = set.values.data();
        const ref::IBertGeluParams& p = params[pi];
        events += expect_paths_match(
            n, [&](int32_t* y, TruncationStats* s) { ref::ibert_gelu(x, y, n, p, s); },
            [&](int32_t* y, TruncationStats* s) { kernels::ibert_gelu(x, y, n, p, s); },
            "ibert_gelu params " + std::to_string(pi) + " " + set.name + " n " + std::to_string(n));
      }
    }
  }
  EXPECT_GT(events, 0u);
}

uint64_t expect_layernorm_matches(const std::vector<int32_t>& x, const ref::ILayerNormParams& p, const std::string& what) {
  const int32_t rows = static_cast<int32_t>(x.size() / p.gamma.size());
  return expect_paths_match(
      x.size(), [&](int32_t* y, TruncationStats* s) { ref::ilayernorm(x.data(), y, rows, p, s); },
      [&](int32_t* y, TruncationStats* s) { kernels::ilayernorm(x.data(), y, rows, p, s); }, what);
}

// Rows of random b-bit codes, then an all-equal row (variance 0) and a row of ±max codes.
std::vector<int32_t> layernorm_rows(int32_t rows, int32_t channels, int32_t bits, uint32_t seed) {
  const int32_t qmax = (1 << (bits - 1)) - 1;
  std::vector<int32_t> x = random_ints(rows * channels, -qmax - 1, qmax, seed);
  for (int32_t c = 0; c < channels; ++c) x.push_back(-5);
  for (int32_t c = 0; c < channels; ++c) x.push_back(c % 3 ? qmax : -qmax - 1);
  return x;
}

ref::ILayerNormParams realistic_layernorm(int32_t channels, int32_t bits, int32_t shift_m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(1.0f, 0.3f), b(0.0f, 0.5f);
  std::vector<float> gamma, beta;
  for (int32_t c = 0; c < channels; ++c) {
    gamma.push_back(g(rng));
    beta.push_back(b(rng));
  }
  gamma[0] = 0.0f;  // a dead channel
  return make_ilayernorm_params(gamma, beta, 1e-6, 8.0 / (1 << (bits - 1)), bits, 0.04, ref::centered_range(8, 128),
                                shift_m);
}

TEST(EltwiseKernels, ILayerNormMatchesReferenceOnLoweredParams) {
  uint64_t events = 0;
  for (int32_t channels : kLengths) {
    for (int32_t bits : {4, 8, 16}) {
      const ref::ILayerNormParams p = realistic_layernorm(channels, bits, 15, channels + bits);
      expect_layernorm_matches(layernorm_rows(3, channels, bits, channels * bits), p,
                               "C " + std::to_string(channels) + " bits " + std::to_string(bits));
    }
    // M = 0: most normalized values divide to 0, counted.
    events += expect_layernorm_matches(layernorm_rows(1, channels, 8, channels), realistic_layernorm(channels, 8, 0, 3),
                                       "M 0, C " + std::to_string(channels));
  }
  expect_layernorm_matches(layernorm_rows(kManyRows, 768, 8, 11), realistic_layernorm(768, 8, 15, 11), "197x8 rows");
  EXPECT_GT(events, 0u);
}

TEST(EltwiseKernels, ILayerNormMatchesReferenceOnHostileParamsAndInputs) {
  std::mt19937 rng(99);
  const std::vector<ref::ClampRange> ranges = clamp_ranges();
  uint64_t events = 0;
  for (int32_t channels : {1, 2, 7, 16, 33, 768}) {
    for (int32_t bits : {1, 8, 20, 30}) {
      ref::ILayerNormParams p;
      p.input_bits = bits;
      p.shift_m = std::min(15, 31 - bits);
      p.var_eps = static_cast<int32_t>(rng() % (1u << 30));
      for (int32_t c = 0; c < channels; ++c) {
        p.gamma.push_back(mixed_values(1, rng())[0]);
        p.beta.push_back(mixed_values(1, rng())[0]);
        p.rq.push_back(random_requant(rng));
      }
      p.range = ranges[rng() % ranges.size()];
      // Mixed rows (INT32_MIN/MAX included: those rows take the reference inside the kernel), and
      // rows at and just past the largest |x| whose shifted partial sums cannot saturate.
      std::vector<int32_t> x = mixed_values(4 * channels, rng());
      const int32_t t = ref::ilayernorm_var_shift(channels, bits, p.shift_m);
      const int32_t limit = (kInt32Max / channels) >> (t < 0 ? -t : 0);
      for (int32_t edge : {limit, limit < kInt32Max ? limit + 1 : limit})
        for (int32_t c = 0; c < channels; ++c) x.push_back(c % 2 ? edge : -edge);
      for (int32_t edge : {limit, limit < kInt32Max ? limit + 1 : limit})
        for (int32_t c = 0; c < channels; ++c) x.push_back(edge);
      events += expect_layernorm_matches(x, p, "hostile C " + std::to_string(channels) + " bits " + std::to_string(bits));
    }
  }
  EXPECT_GT(events, 0u);
}

// The vector kernels' short affine step (ILayerNormConsts::affine_limit): gamma and beta chosen so
// that |norm| = limit lands exactly on INT32_MAX and the normalized values of random rows fall on
// both sides of the limit.
TEST(EltwiseKernels, ILayerNormShortAffineStepAtItsLimit) {
  std::mt19937 rng(5);
  for (int32_t channels : {16, 33, 768}) {
    for (int32_t limit : {1 << 12, 1 << 15, 3 << 15}) {
      for (int32_t sign : {1, -1}) {
        ref::ILayerNormParams p;
        p.input_bits = 8;
        p.shift_m = 15;
        const int32_t gamma = kInt32Max / limit / 2;
        const int32_t beta = kInt32Max - limit * gamma;  // norm = limit: exactly INT32_MAX
        for (int32_t c = 0; c < channels; ++c) {
          p.gamma.push_back(c % 3 ? sign * gamma : -sign * (gamma - c));
          p.beta.push_back(c % 2 ? beta : -beta);
          p.rq.push_back(make_requant(1e-6, kInt32Max));
        }
        p.range = {kInt32Min, kInt32Max};
        std::vector<int32_t> x = random_ints(64 * channels, -128, 127, rng());
        for (int32_t c = 0; c < channels; ++c) x.push_back(c == 0 ? 127 : -1);  // one large |norm|
        expect_layernorm_matches(x, p, "short affine C " + std::to_string(channels) + " limit " + std::to_string(limit));
      }
    }
  }
}

// Rows whose d_t reach |d_t| = 46340 (the largest square that fits int32) and 46341 on the
// kernels' vector path.
TEST(EltwiseKernels, ILayerNormSquaresAtTheInt32Edge) {
  const auto unit_params = [](int32_t channels, int32_t bits) {
    ref::ILayerNormParams p;
    p.input_bits = bits;
    p.shift_m = 15;
    p.gamma.assign(channels, 1);
    p.beta.assign(channels, 0);
    p.rq.assign(channels, Requant{0, 1, 0});
    return p;
  };
  // 7-bit codes, C = 46341: t = 0, and one 46340 among -1s has mean 0 and sum of squares
  // 46340^2 + 46340 <= INT32_MAX: no truncation at all.
  std::vector<int32_t> wide(46341, -1);
  wide[0] = 46340;
  ASSERT_EQ(ref::ilayernorm_var_shift(46341, 7, 15), 0);
  EXPECT_EQ(expect_layernorm_matches(wide, unit_params(46341, 7), "46340 among -1s"), 0u);
  // 15-bit codes, C = 2: t = 1, so ±92680 and ±92682 give d_t = ±46340 and ±46341.
  ASSERT_EQ(ref::ilayernorm_var_shift(2, 15, 15), 1);
  expect_layernorm_matches({92680, -92680, 92682, -92682, 92681, -92681}, unit_params(2, 15), "pairs");
}

// The vector kernels' short form (t·m0 on magnitudes t = |rshift_round(x, pre)| up to
// INT32_MAX / m0, eltwise_kernels_x86.h): whole vectors of values at that limit, at the rounding
// halves of the pre-shift, both signs, and one lane beyond the limit (which takes the exact form).
TEST(EltwiseKernels, RequantizeShortFormMatchesReferenceAtItsLimit) {
  for (int32_t m0 : {1, 3, 254, 12345, 65531, 1 << 30, kInt32Max}) {
    const int64_t limit = kInt32Max / m0;
    for (int32_t pre : {0, 1, 5, 17, 31}) {
      std::vector<int32_t> at_limit, beyond;
      for (int64_t t : {limit, limit - 1, limit / 2, int64_t{0}, int64_t{1}}) {
        for (int64_t half : {int64_t{0}, pre > 0 ? (int64_t{1} << (pre - 1)) - 1 : 0, pre > 0 ? int64_t{1} << (pre - 1) : 0}) {
          const int64_t x = (t << pre) - (t > 0 ? half : 0);  // rounds up to t (or stays t)
          if (x > kInt32Max || t < 0) continue;
          at_limit.push_back(static_cast<int32_t>(x));
          at_limit.push_back(static_cast<int32_t>(-x));
        }
      }
      while (at_limit.size() % 16) at_limit.push_back(at_limit[at_limit.size() % 7]);
      beyond = at_limit;
      if (((limit + 1) << pre) <= kInt32Max) beyond[3] = static_cast<int32_t>(-((limit + 1) << pre));
      for (int32_t post : {0, 1, 18, 31}) {
        const Requant rq{pre, m0, post};
        for (const auto* values : {&at_limit, &beyond}) {
          const int32_t n = static_cast<int32_t>(values->size());
          expect_paths_match(
              n, [&](int32_t* y, TruncationStats* st) { ref::requantize(values->data(), y, n, rq, {}, st); },
              [&](int32_t* y, TruncationStats* st) { kernels::requantize(values->data(), y, n, rq, {}, st); },
              "short-form requant " + std::to_string(pre) + " " + std::to_string(m0) + " " + std::to_string(post));
          std::vector<Requant> per_channel(16, rq);
          per_channel[5] = {pre, m0 > 1 ? m0 - 1 : 2, post};
          expect_paths_match(
              n,
              [&](int32_t* y, TruncationStats* st) {
                ref::requantize_per_channel(values->data(), y, n / 16, 16, per_channel.data(), {}, st);
              },
              [&](int32_t* y, TruncationStats* st) {
                kernels::requantize_per_channel(values->data(), y, n / 16, 16, per_channel.data(), {}, st);
              },
              "short-form per-channel requant " + std::to_string(pre) + " " + std::to_string(m0));
        }
      }
    }
  }
}

// requantize_codes / requantize_per_channel_codes: the codes are the reference's values minus the
// offset, on every path, at tail sizes and threaded sizes, for grids of 2 to 8 bits at any zero point.
TEST(EltwiseKernels, RequantizeToCodesEqualsRequantizeThenNarrowing) {
  std::mt19937 rng(91);
  size_t case_index = 0;
  for (int32_t n : {1, 2, 7, 15, 16, 17, 31, 32, 33, 197, 3072, 20000}) {
    const std::vector<int32_t> x = mixed_values(n, static_cast<uint32_t>(n));
    for (int32_t bits = 2; bits <= 8; ++bits) {
      const int32_t z = static_cast<int32_t>(rng() % (1u << bits));
      const ref::ClampRange range = ref::centered_range(bits, z);
      const Requant rq = case_index++ % 2 ? random_requant(rng) : make_requant(0.001 * bits, 1 << 24);
      const auto widen = [&](const std::vector<uint8_t>& codes, int32_t* out) {
        for (size_t i = 0; i < codes.size(); ++i) out[i] = codes[i] + range.lo;
      };
      expect_paths_match(
          n, [&](int32_t* y, TruncationStats* st) { ref::requantize(x.data(), y, n, rq, range, st); },
          [&](int32_t* y, TruncationStats* st) {
            std::vector<uint8_t> codes(n, 0xAB);
            kernels::requantize_codes(x.data(), codes.data(), n, rq, range, range.lo, st);
            widen(codes, y);
          },
          "requantize_codes n " + std::to_string(n) + " bits " + std::to_string(bits));
      for (int32_t channels : {1, 3, 16, 17, 48}) {
        if (n % channels) continue;
        std::vector<Requant> table;
        for (int32_t ch = 0; ch < channels; ++ch) table.push_back(ch % 3 ? random_requant(rng) : make_requant(0.01 * (ch + 1), 1 << 20));
        expect_paths_match(
            n, [&](int32_t* y, TruncationStats* st) { ref::requantize_per_channel(x.data(), y, n / channels, channels, table.data(), range, st); },
            [&](int32_t* y, TruncationStats* st) {
              std::vector<uint8_t> codes(n, 0xAB);
              kernels::requantize_per_channel_codes(x.data(), codes.data(), n / channels, channels, table.data(), range,
                                                    range.lo, st);
              widen(codes, y);
            },
            "requantize_per_channel_codes n " + std::to_string(n) + " channels " + std::to_string(channels));
      }
    }
  }
  std::vector<int32_t> x(4, 7);
  std::vector<uint8_t> codes(4);
  EXPECT_ANY_THROW(kernels::requantize_codes(x.data(), codes.data(), 4, Requant{}, {0, 256}, 0, nullptr))
      << "a range wider than uint8 codes";
}

TEST(EltwiseKernels, RequantizeMatchesReferenceOverTheParameterRange) {
  const std::vector<ref::ClampRange> ranges = clamp_ranges();
  const std::vector<int32_t> x = mixed_values(67, 5);
  const int32_t n = static_cast<int32_t>(x.size());
  uint64_t events = 0;
  size_t case_index = 0;
  for (int32_t pre : kShifts) {
    for (int32_t m0 : kMultipliers) {
      for (int32_t post : kShifts) {
        const Requant rq{pre, m0, post};
        const ref::ClampRange range = ranges[case_index++ % ranges.size()];
        events += expect_paths_match(
            n, [&](int32_t* y, TruncationStats* s) { ref::requantize(x.data(), y, n, rq, range, s); },
            [&](int32_t* y, TruncationStats* s) { kernels::requantize(x.data(), y, n, rq, range, s); },
            "requant " + std::to_string(pre) + " " + std::to_string(m0) + " " + std::to_string(post));
      }
    }
  }
  EXPECT_GT(events, 0u);
}

TEST(EltwiseKernels, RequantizeMatchesReferenceOnLoweredParamsAndShapes) {
  const std::vector<ref::ClampRange> ranges = clamp_ranges();
  const std::vector<Requant> params = {make_requant(0.0123, 1 << 20), make_requant(3.7, 1000),
                                       make_requant(1e-9, kInt32Max), make_requant(0.5, 1 << 24)};
  for (size_t pi = 0; pi < params.size(); ++pi) {
    for (const Shape& shape : test_shapes({33, 384})) {
      for (const ValueSet& set : value_sets(shape.count(), 300 + shape.count())) {
        const int32_t n = shape.count();
        const int32_t* x = set.values.data();
        const ref::ClampRange range = ranges[(pi + n) % ranges.size()];
        expect_paths_match(
            n, [&](int32_t* y, TruncationStats* s) { ref::requantize(x, y, n, params[pi], range, s); },
            [&](int32_t* y, TruncationStats* s) { kernels::requantize(x, y, n, params[pi], range, s); },
            "requantize params " + std::to_string(pi) + " " + set.name + " n " + std::to_string(n));
      }
    }
  }
}

TEST(EltwiseKernels, RequantizePerChannelMatchesReference) {
  std::mt19937 rng(7);
  const std::vector<ref::ClampRange> ranges = clamp_ranges();
  uint64_t events = 0;
  for (const Shape& shape : test_shapes({33, 384})) {
    std::vector<Requant> rq;
    for (int32_t c = 0; c < shape.length; ++c)
      rq.push_back(c % 2 ? random_requant(rng) : make_requant(0.001 * (c + 1), 1 << 22));
    const std::vector<int32_t> x = mixed_values(shape.count(), rng());
    const ref::ClampRange range = ranges[rng() % ranges.size()];
    events += expect_paths_match(
        x.size(),
        [&](int32_t* y, TruncationStats* s) { ref::requantize_per_channel(x.data(), y, shape.rows, shape.length, rq.data(), range, s); },
        [&](int32_t* y, TruncationStats* s) { kernels::requantize_per_channel(x.data(), y, shape.rows, shape.length, rq.data(), range, s); },
        "per channel " + std::to_string(shape.rows) + "x" + std::to_string(shape.length));
  }
  EXPECT_GT(events, 0u);
}

TEST(EltwiseKernels, ClampCodesMatchesReference) {
  std::vector<ref::ClampRange> ranges = clamp_ranges();
  ranges.push_back({5, -5});  // lo > hi: the reference's order of tests decides
  for (const Shape& shape : test_shapes({33})) {
    const std::vector<int32_t> x = mixed_values(shape.count(), shape.count());
    for (const ref::ClampRange& range : ranges) {
      expect_paths_match(
          x.size(), [&](int32_t* y, TruncationStats*) { ref::clamp_codes(x.data(), y, shape.count(), range); },
          [&](int32_t* y, TruncationStats*) { kernels::clamp_codes(x.data(), y, shape.count(), range); },
          "clamp [" + std::to_string(range.lo) + ", " + std::to_string(range.hi) + "] n " + std::to_string(shape.count()));
    }
  }
}

TEST(EltwiseKernels, MulConstMatchesReference) {
  uint64_t events = 0;
  for (const Shape& shape : test_shapes({33})) {
    const int32_t n = shape.count();
    const std::vector<int32_t> x = mixed_values(n, n);
    for (int32_t c_count : {1, 3, shape.length, n, 1500}) {
      const std::vector<int32_t> c = mixed_values(c_count, c_count);
      events += expect_paths_match(
          n, [&](int32_t* y, TruncationStats* s) { ref::mul_const(x.data(), n, c.data(), c_count, y, s); },
          [&](int32_t* y, TruncationStats* s) { kernels::mul_const(x.data(), n, c.data(), c_count, y, s); },
          "mul_const n " + std::to_string(n) + " c " + std::to_string(c_count));
    }
  }
  EXPECT_GT(events, 0u);
}

TEST(EltwiseKernels, AddMatchesReference) {
  std::mt19937 rng(3);
  const std::vector<ref::ClampRange> ranges = clamp_ranges();
  // Residual adds as lowered (both operands to the output scale with `shift` fraction bits), then
  // requantizers and shifts over their range.
  std::vector<ref::AddParams> params;
  for (int32_t shift : {0, 8}) {
    const double s = std::ldexp(1.0, shift);
    params.push_back({make_requant(0.8 * s, 1 << 16), make_requant(1.3 * s, 1 << 16), shift, ref::centered_range(8, 128)});
  }
  for (int32_t shift : {0, 1, 31, 32, 40}) params.push_back({random_requant(rng), random_requant(rng), shift, ranges[rng() % ranges.size()]});
  uint64_t events = 0;
  for (size_t pi = 0; pi < params.size(); ++pi) {
    for (const Shape& shape : test_shapes({33, 384})) {
      const int32_t n = shape.count();
      const std::vector<int32_t> a = pi < 2 ? random_ints(n, -(1 << 16), 1 << 16, n) : mixed_values(n, n);
      const std::vector<int32_t> b = pi < 2 ? random_ints(n, -(1 << 16), 1 << 16, n + 1) : mixed_values(n, n + 1);
      for (int32_t b_count : {n, shape.length, 1}) {
        events += expect_paths_match(
            n, [&](int32_t* y, TruncationStats* s) { ref::add(a.data(), n, b.data(), b_count, y, params[pi], s); },
            [&](int32_t* y, TruncationStats* s) { kernels::add(a.data(), n, b.data(), b_count, y, params[pi], s); },
            "add params " + std::to_string(pi) + " n " + std::to_string(n) + " b " + std::to_string(b_count));
      }
    }
  }
  EXPECT_GT(events, 0u);
}

TEST(EltwiseKernels, InPlaceCallsMatchTheReference) {
  const int32_t rows = 197 * 2, channels = 768, n = rows * channels;
  const std::vector<int32_t> x = mixed_values(n, 17), codes = random_ints(n, -128, 127, 18);
  const ref::ShiftGeluParams gelu_p = make_shiftgelu_params(8.0 / 128, 8);
  const ref::ILayerNormParams norm_p = realistic_layernorm(channels, 8, 15, 4);
  const Requant rq{2, 12345, 20};
  const ref::AddParams add_p{{0, 3, 1}, {1, 5, 0}, 1, ref::centered_range(8, 128)};
  // The reference out of place, then each path with out = in (a for add).
  const auto expect_in_place = [&](const std::vector<int32_t>& input, const Call& reference,
                                   const std::function<void(int32_t*)>& in_place, const std::string& what) {
    std::vector<int32_t> expected(input.size());
    reference(expected.data(), nullptr);
    for (KernelPath path : supported_kernel_paths()) {
      ScopedKernelPath scoped(path);
      std::vector<int32_t> data = input;
      in_place(data.data());
      EXPECT_TRUE(data == expected) << what << " on " << kernel_path_name(path);
    }
  };
  expect_in_place(
      x, [&](int32_t* y, TruncationStats*) { ref::shiftgelu(x.data(), y, n, gelu_p, nullptr); },
      [&](int32_t* d) { kernels::shiftgelu(d, d, n, gelu_p, nullptr); }, "shiftgelu");
  expect_in_place(
      x, [&](int32_t* y, TruncationStats*) { ref::ilayernorm(x.data(), y, rows, norm_p, nullptr); },
      [&](int32_t* d) { kernels::ilayernorm(d, d, rows, norm_p, nullptr); }, "ilayernorm, mixed");
  expect_in_place(
      codes, [&](int32_t* y, TruncationStats*) { ref::ilayernorm(codes.data(), y, rows, norm_p, nullptr); },
      [&](int32_t* d) { kernels::ilayernorm(d, d, rows, norm_p, nullptr); }, "ilayernorm, codes");
  expect_in_place(
      x, [&](int32_t* y, TruncationStats*) { ref::requantize(x.data(), y, n, rq, {}, nullptr); },
      [&](int32_t* d) { kernels::requantize(d, d, n, rq, {}, nullptr); }, "requantize");
  expect_in_place(
      x, [&](int32_t* y, TruncationStats*) { ref::add(x.data(), n, codes.data(), channels, y, add_p, nullptr); },
      [&](int32_t* d) { kernels::add(d, n, codes.data(), channels, d, add_p, nullptr); }, "add");
}

TEST(EltwiseKernels, BadParametersThrowOnEveryPathAndNullStatsAreAllowed) {
  const std::vector<int32_t> x = mixed_values(100, 1);
  std::vector<int32_t> y(x.size());
  ref::ShiftGeluParams bad_gelu;
  bad_gelu.sigmoid_bits = 1;
  ref::ILayerNormParams bad_norm;  // no channels
  for (KernelPath path : supported_kernel_paths()) {
    ScopedKernelPath scoped(path);
    EXPECT_THROW(kernels::shiftgelu(x.data(), y.data(), 100, bad_gelu, nullptr), Error) << kernel_path_name(path);
    EXPECT_THROW(kernels::ibert_gelu(x.data(), y.data(), 100, ref::IBertGeluParams{{0, 1, 0}, 1}, nullptr), Error);
    EXPECT_THROW(kernels::ilayernorm(x.data(), y.data(), 1, bad_norm, nullptr), Error);
    EXPECT_ANY_THROW(kernels::requantize(x.data(), y.data(), 100, Requant{}, {1, 0}, nullptr));
    EXPECT_ANY_THROW(kernels::add(x.data(), 100, x.data(), 7, y.data(), ref::AddParams{}, nullptr));
    EXPECT_ANY_THROW(kernels::add(x.data(), 100, x.data(), 10, y.data(), ref::AddParams{{}, {}, -1, {}}, nullptr));
    kernels::shiftgelu(x.data(), y.data(), 100, ref::ShiftGeluParams{}, nullptr);
    kernels::requantize(x.data(), y.data(), 100, Requant{3, 5, 1}, {}, nullptr);
    kernels::add(x.data(), 100, x.data(), 10, y.data(), ref::AddParams{}, nullptr);
  }
}

}  // namespace
}  // namespace qvit::kernels
