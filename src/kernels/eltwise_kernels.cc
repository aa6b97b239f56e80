// Path choice, parameter checks and threading of the elementwise kernels; the arithmetic is the
// reference's (kernels/reference/) or the x86 files' (kernels/x86/eltwise_kernels_x86.h).
#include "kernels/eltwise_kernels.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <vector>

#include "kernels/kernel_path.h"
#include "kernels/reference/exp_approx.h"
#include "kernels/x86/eltwise_kernels_x86.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace qvit::kernels {
namespace {

// Work per parallel chunk, in elements: a few µs for the cheapest kernels, so that the pool's
// fork-join cost stays small; GELU costs several times more per element.
constexpr int64_t kChunkElements = 16384;
constexpr int64_t kGeluChunkElements = 4096;
// Shortest contiguous run of a repeating operand (add's b, mul_const's c) handed to a kernel.
constexpr int32_t kMinRun = 1024;

// The x86 kernels of one instruction set (kernels/x86/eltwise_kernels_x86.h).
struct X86Kernels {
  decltype(&shiftgelu_avx2) shiftgelu;
  decltype(&ibert_gelu_avx2) ibert_gelu;
  decltype(&ilayernorm_row_sum_avx2) ilayernorm_row_sum;
  decltype(&ilayernorm_row_variance_avx2) ilayernorm_row_variance;
  decltype(&ilayernorm_row_normalize_avx2) ilayernorm_row_normalize;
  decltype(&requantize_avx2) requantize;
  decltype(&requantize_per_channel_avx2) requantize_per_channel;
  decltype(&clamp_codes_avx2) clamp_codes;
  decltype(&mul_const_avx2) mul_const;
  decltype(&add_avx2) add;
};

// The kernels of an avx2 / avx512 path; nullptr for ref and plain (and off x86, where the x86
// files are not built).
const X86Kernels* x86_kernels(KernelPath path) {
#if defined(__x86_64__) || defined(__i386__)
  static constexpr X86Kernels kAvx2{shiftgelu_avx2,
                                    ibert_gelu_avx2,
                                    ilayernorm_row_sum_avx2,
                                    ilayernorm_row_variance_avx2,
                                    ilayernorm_row_normalize_avx2,
                                    requantize_avx2,
                                    requantize_per_channel_avx2,
                                    clamp_codes_avx2,
                                    mul_const_avx2,
                                    add_avx2};
  static constexpr X86Kernels kAvx512{shiftgelu_avx512,
                                      ibert_gelu_avx512,
                                      ilayernorm_row_sum_avx512,
                                      ilayernorm_row_variance_avx512,
                                      ilayernorm_row_normalize_avx512,
                                      requantize_avx512,
                                      requantize_per_channel_avx512,
                                      clamp_codes_avx512,
                                      mul_const_avx512,
                                      add_avx512};
  if (path == KernelPath::Avx512) return &kAvx512;
  if (uses_avx2(path)) return &kAvx2;
#else
  (void)path;
#endif
  return nullptr;
}

// Runs chunk(begin, end) on parallel chunks of [0, n) and returns the sum of the events they
// count; each chunk counts its own elements, so the total is the reference's.
int32_t parallel_events(int64_t n, int64_t grain, const std::function<int32_t(int64_t, int64_t)>& chunk) {
  std::atomic<int32_t> events{0};
  parallel_for(n, std::max<int64_t>(grain, 1), [&](int64_t begin, int64_t end) { events += chunk(begin, end); });
  return events.load();
}

// The events of one reference call (on a chunk).
template <class Call>
int32_t reference_events(Call call) {
  TruncationStats chunk_stats;
  call(&chunk_stats);
  return static_cast<int32_t>(chunk_stats.events);
}

ClampBounds bounds(ref::ClampRange range) { return {range.lo, range.hi}; }

RequantConsts with_nonnegative_shifts(const Requant& rq) {
  const int32_t pre = std::max(rq.pre_shift, 0), post = std::max(rq.post_shift, 0);
  const bool short_form = rq.m0 >= 0 && pre <= 31 && post <= 31;
  return {pre, rq.m0, post, short_form ? kInt32Max / std::max(rq.m0, 1) : -1};
}

// Per-channel requantizers as the x86 kernels load them (structure of arrays).
struct RequantColumns {
  std::vector<int32_t> pre_shift, m0, post_shift, short_limit;
  bool short_form = true;

  RequantColumns(const Requant* rq, int32_t channels) {
    for (int32_t c = 0; c < channels; ++c) {
      const RequantConsts k = with_nonnegative_shifts(rq[c]);
      pre_shift.push_back(k.pre_shift);
      m0.push_back(k.m0);
      post_shift.push_back(k.post_shift);
      short_limit.push_back(k.short_limit);
      short_form = short_form && k.short_limit >= 0;
    }
  }
  RequantTable table() const {
    return {pre_shift.data(), m0.data(), post_shift.data(), short_form ? short_limit.data() : nullptr};
  }
};

// A repeating operand (element i uses values[i mod count]) with a period of at least kMinRun
// elements, so that the runs where it is contiguous are long: the values themselves, or a copy
// repeated a whole number of times.
struct RepeatedOperand {
  const int32_t* data;
  int64_t period;
  std::vector<int32_t> storage;

  RepeatedOperand(const int32_t* values, int32_t count) : data(values), period(count) {
    if (count >= kMinRun) return;
    for (int32_t r = 0; r < (kMinRun + count - 1) / count; ++r) storage.insert(storage.end(), values, values + count);
    data = storage.data();
    period = static_cast<int64_t>(storage.size());
  }
};

// Calls run(i, j, n) for the runs of [begin, end) over which the repeating operand is contiguous:
// elements i .. i+n-1 pair with operand values j .. j+n-1.
template <class Run>
void for_each_run(int64_t begin, int64_t end, const RepeatedOperand& operand, Run run) {
  int64_t j = begin % operand.period;
  for (int64_t i = begin; i < end; j = 0) {
    const int64_t n = std::min(end - i, operand.period - j);
    run(i, j, static_cast<int32_t>(n));
    i += n;
  }
}

}  // namespace

void shiftgelu(const int32_t* in, int32_t* out, int32_t count, const ref::ShiftGeluParams& p, TruncationStats* stats) {
  const KernelPath path = active_kernel_path();
  if (path == KernelPath::Ref || count <= 0) return ref::shiftgelu(in, out, count, p, stats);
  ref::shiftgelu(in, out, 0, p, nullptr);  // the reference's parameter checks
  int32_t events = 0;
  if (const X86Kernels* x86 = x86_kernels(path)) {
    const int32_t sum_shift = ref::shift_exp_sum_shift(p.exp, 2);
    bool exp_zero_lost = false;
    const int32_t exp_zero = rshift_floor(ref::shift_exp(0, p.exp, exp_zero_lost), sum_shift);
    const ShiftGeluConsts k{p.exp.i0, p.exp.n, sum_shift, 32 - p.sigmoid_bits, exp_zero, exp_zero_lost};
    events = parallel_events(count, kGeluChunkElements, [&](int64_t begin, int64_t end) {
      return x86->shiftgelu(in + begin, out + begin, static_cast<int32_t>(end - begin), k);
    });
  } else {
    events = parallel_events(count, kGeluChunkElements, [&](int64_t begin, int64_t end) {
      return reference_events([&](TruncationStats* s) {
        ref::shiftgelu(in + begin, out + begin, static_cast<int32_t>(end - begin), p, s);
      });
    });
  }
  record_truncations(stats, events, count);
}

void ibert_gelu(const int32_t* in, int32_t* out, int32_t count, const ref::IBertGeluParams& p, TruncationStats* stats) {
  const KernelPath path = active_kernel_path();
  if (path == KernelPath::Ref || count <= 0) return ref::ibert_gelu(in, out, count, p, stats);
  ref::ibert_gelu(in, out, 0, p, nullptr);  // the reference's parameter checks
  int32_t events = 0;
  if (const X86Kernels* x86 = x86_kernels(path)) {
    const IBertGeluConsts k{p.erf.clip, p.erf.one, p.erf.shift, p.one_shifted};
    events = parallel_events(count, kGeluChunkElements, [&](int64_t begin, int64_t end) {
      return x86->ibert_gelu(in + begin, out + begin, static_cast<int32_t>(end - begin), k);
    });
  } else {
    events = parallel_events(count, kGeluChunkElements, [&](int64_t begin, int64_t end) {
      return reference_events([&](TruncationStats* s) {
        ref::ibert_gelu(in + begin, out + begin, static_cast<int32_t>(end - begin), p, s);
      });
    });
  }
  record_truncations(stats, events, count);
}

void ilayernorm(const int32_t* in, int32_t* out, int32_t rows, const ref::ILayerNormParams& p, TruncationStats* stats) {
  const KernelPath path = active_kernel_path();
  if (path == KernelPath::Ref || rows <= 0) return ref::ilayernorm(in, out, rows, p, stats);
  ref::ilayernorm(in, out, 0, p, nullptr);  // the reference's parameter checks
  const int32_t channels = static_cast<int32_t>(p.gamma.size());
  const int64_t row_grain = kChunkElements / channels;
  const auto reference_rows = [&](int64_t r0, int64_t r1) {
    return reference_events([&](TruncationStats* s) {
      ref::ilayernorm(in + r0 * channels, out + r0 * channels, static_cast<int32_t>(r1 - r0), p, s);
    });
  };
  const X86Kernels* x86 = x86_kernels(path);
  if (x86 == nullptr) {
    record_truncations(stats, parallel_events(rows, row_grain, reference_rows), rows * channels);
    return;
  }
  const int32_t var_shift = ref::ilayernorm_var_shift(channels, p.input_bits, p.shift_m);
  const int32_t frac = var_shift < 0 ? -var_shift : 0;
  const RequantColumns rq(p.rq.data(), channels);
  // The affine step's bound (ILayerNormConsts::affine_limit), from the per-call maxima.
  uint32_t max_gamma = 0, max_beta = 0;
  for (int32_t c = 0; c < channels; ++c) {
    max_gamma = std::max(max_gamma, magnitude(p.gamma[static_cast<size_t>(c)]));
    max_beta = std::max(max_beta, magnitude(p.beta[static_cast<size_t>(c)]));
  }
  const int32_t affine_limit =
      max_beta > static_cast<uint32_t>(kInt32Max)
          ? -1
          : static_cast<int32_t>((static_cast<uint32_t>(kInt32Max) - max_beta) / std::max<uint32_t>(max_gamma, 1));
  const ILayerNormConsts k{channels,       frac,          var_shift,  p.shift_m, p.var_eps,
                           p.gamma.data(), p.beta.data(), rq.table(), bounds(p.range), affine_limit};
  // A row with max |x| <= fast_limit saturates nowhere before the division: x << frac fits, every
  // partial sum of the C shifted inputs fits (C max|x << frac| <= INT32_MAX, so the vector sum in
  // any order is the reference's), |mean| <= max|x << frac|, and |d| <= 2 INT32_MAX / C fits
  // (d = 0 for C = 1). Rows far outside input_bits run the reference, whose sums saturate in order.
  const uint32_t fast_limit = static_cast<uint32_t>((kInt32Max / channels) >> frac);
  const int32_t events = parallel_events(rows, row_grain, [&](int64_t r0, int64_t r1) {
    int32_t chunk_events = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t* x = in + r * channels;
      int32_t* y = out + r * channels;
      int32_t sum = 0;
      uint32_t max_magnitude = 0;
      x86->ilayernorm_row_sum(x, channels, &sum, &max_magnitude);
      if (max_magnitude > fast_limit) {
        chunk_events += reference_rows(r, r + 1);
        continue;
      }
      const int32_t mean = div_round(sat_shl(sum, frac).value, channels).value;
      bool var_lost = false;
      const int32_t var = x86->ilayernorm_row_variance(x, k, mean, &var_lost);
      const int32_t root = isqrt_floor(var);
      chunk_events += x86->ilayernorm_row_normalize(x, y, k, mean, root > 0 ? root : 1, var_lost);
    }
    return chunk_events;
  });
  record_truncations(stats, events, rows * channels);
}

namespace {

// `out` from element `at` on.
RequantOut requant_out_at(const RequantOut& out, int64_t at) {
  return {out.values ? out.values + at : nullptr, out.codes ? out.codes + at : nullptr, out.offset};
}

// Rows [r0, r1) of a reference requantize into `out` ([rows, channels]; per tensor: rows 1), codes
// through an int32 buffer of the chunk; the chunk's events.
int32_t reference_requantize(const int32_t* in, RequantOut out, int64_t r0, int64_t r1, int32_t channels,
                             const Requant* rq, bool per_channel, ref::ClampRange range) {
  const int64_t begin = r0 * channels, n = (r1 - r0) * channels;
  std::vector<int32_t> buffer(out.codes ? static_cast<size_t>(n) : 0);
  int32_t* values = out.codes ? buffer.data() : out.values + begin;
  const int32_t events = reference_events([&](TruncationStats* s) {
    if (per_channel) ref::requantize_per_channel(in + begin, values, static_cast<int32_t>(r1 - r0), channels, rq, range, s);
    else ref::requantize(in + begin, values, static_cast<int32_t>(n), *rq, range, s);
  });
  if (out.codes)
    for (int64_t i = 0; i < n; ++i) out.codes[begin + i] = static_cast<uint8_t>(values[i] - out.offset);
  return events;
}

// requantize_per_channel, and requantize (per_channel false: rows · channels elements with one rq;
// the callers pass channels 1 so that the rows are the elements, split between the threads), into
// values or codes.
void requantize_into(const int32_t* in, RequantOut out, int32_t rows, int32_t channels, const Requant* rq,
                     bool per_channel, ref::ClampRange range, TruncationStats* stats) {
  QVIT_CHECK(rows >= 0 && channels >= 0 && range.lo <= range.hi, "requantize: bad sizes or clamp range");
  QVIT_CHECK(!out.codes || (range.lo >= out.offset && static_cast<int64_t>(range.hi) - out.offset <= 255),
             "requantize: the clamp range does not fit uint8 codes at this offset");
  if (rows == 0 || channels == 0) return record_truncations(stats, 0, 0);
  const KernelPath path = active_kernel_path();
  if (path == KernelPath::Ref)
    return record_truncations(stats, reference_requantize(in, out, 0, rows, channels, rq, per_channel, range),
                              rows * channels);
  const X86Kernels* x86 = x86_kernels(path);
  const int64_t row_grain = std::max<int64_t>(1, kChunkElements / channels);
  int32_t events = 0;
  if (x86 && per_channel) {
    const RequantColumns table(rq, channels);
    events = parallel_events(rows, row_grain, [&](int64_t r0, int64_t r1) {
      return x86->requantize_per_channel(in + r0 * channels, requant_out_at(out, r0 * channels),
                                         static_cast<int32_t>(r1 - r0), channels, table.table(), bounds(range));
    });
  } else if (x86) {
    const RequantConsts k = with_nonnegative_shifts(*rq);
    events = parallel_events(rows, row_grain, [&](int64_t r0, int64_t r1) {
      return x86->requantize(in + r0 * channels, requant_out_at(out, r0 * channels),
                             static_cast<int32_t>((r1 - r0) * channels), k, bounds(range));
    });
  } else {
    events = parallel_events(rows, row_grain, [&](int64_t r0, int64_t r1) {
      return reference_requantize(in, out, r0, r1, channels, rq, per_channel, range);
    });
  }
  record_truncations(stats, events, rows * channels);
}

}  // namespace

void requantize(const int32_t* in, int32_t* out, int32_t count, const Requant& rq, ref::ClampRange range,
                TruncationStats* stats) {
  requantize_into(in, {out, nullptr, 0}, count, 1, &rq, false, range, stats);
}

void requantize_per_channel(const int32_t* in, int32_t* out, int32_t rows, int32_t channels, const Requant* rq,
                            ref::ClampRange range, TruncationStats* stats) {
  requantize_into(in, {out, nullptr, 0}, rows, channels, rq, true, range, stats);
}

void requantize_codes(const int32_t* in, uint8_t* codes, int32_t count, const Requant& rq, ref::ClampRange range,
                      int32_t offset, TruncationStats* stats) {
  requantize_into(in, {nullptr, codes, offset}, count, 1, &rq, false, range, stats);
}

void requantize_per_channel_codes(const int32_t* in, uint8_t* codes, int32_t rows, int32_t channels, const Requant* rq,
                                  ref::ClampRange range, int32_t offset, TruncationStats* stats) {
  requantize_into(in, {nullptr, codes, offset}, rows, channels, rq, true, range, stats);
}

void clamp_codes(const int32_t* in, int32_t* out, int32_t count, ref::ClampRange range) {
  const KernelPath path = active_kernel_path();
  // lo > hi is not rejected by the reference: its x < lo ? lo : min(x, hi) is not min(max(x, lo), hi)
  // there, so such a range keeps the reference.
  if (path == KernelPath::Ref || count <= 0 || range.lo > range.hi) return ref::clamp_codes(in, out, count, range);
  const X86Kernels* x86 = x86_kernels(path);
  parallel_for(count, kChunkElements, [&](int64_t begin, int64_t end) {
    if (x86 != nullptr)
      x86->clamp_codes(in + begin, out + begin, static_cast<int32_t>(end - begin), bounds(range));
    else
      ref::clamp_codes(in + begin, out + begin, static_cast<int32_t>(end - begin), range);
  });
}

void mul_const(const int32_t* in, int32_t count, const int32_t* c, int32_t c_count, int32_t* out, TruncationStats* stats) {
  const KernelPath path = active_kernel_path();
  if (path == KernelPath::Ref || count <= 0) return ref::mul_const(in, count, c, c_count, out, stats);
  QVIT_CHECK(c_count > 0, "mul_const: no constants");
  const X86Kernels* x86 = x86_kernels(path);
  const RepeatedOperand constants(c, c_count);
  const int32_t events = parallel_events(count, kChunkElements, [&](int64_t begin, int64_t end) {
    int32_t chunk_events = 0;
    for_each_run(begin, end, constants, [&](int64_t i, int64_t j, int32_t n) {
      if (x86 != nullptr)
        chunk_events += x86->mul_const(in + i, constants.data + j, n, out + i);
      else
        chunk_events += reference_events([&](TruncationStats* s) { ref::mul_const(in + i, n, constants.data + j, n, out + i, s); });
    });
    return chunk_events;
  });
  record_truncations(stats, events, count);
}

void add(const int32_t* a, int32_t count, const int32_t* b, int32_t b_count, int32_t* out, const ref::AddParams& p,
         TruncationStats* stats) {
  const KernelPath path = active_kernel_path();
  if (path == KernelPath::Ref || count <= 0) return ref::add(a, count, b, b_count, out, p, stats);
  QVIT_CHECK(b_count > 0 && count % b_count == 0, "add: b_count must divide count");
  QVIT_CHECK(p.shift >= 0 && p.range.lo <= p.range.hi, "add: bad shift or clamp range");
  const X86Kernels* x86 = x86_kernels(path);
  const AddConsts k{with_nonnegative_shifts(p.a), with_nonnegative_shifts(p.b), p.shift, bounds(p.range)};
  const RepeatedOperand operand_b(b, b_count);
  const int32_t events = parallel_events(count, kChunkElements, [&](int64_t begin, int64_t end) {
    int32_t chunk_events = 0;
    for_each_run(begin, end, operand_b, [&](int64_t i, int64_t j, int32_t n) {
      if (x86 != nullptr)
        chunk_events += x86->add(a + i, operand_b.data + j, n, out + i, k);
      else
        chunk_events += reference_events([&](TruncationStats* s) { ref::add(a + i, n, operand_b.data + j, n, out + i, p, s); });
    });
    return chunk_events;
  });
  record_truncations(stats, events, count);
}

}  // namespace qvit::kernels
