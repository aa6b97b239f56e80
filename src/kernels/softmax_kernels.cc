// Dispatch of the integer softmax kernels: parameter checks as the reference, the per-call
// constants the SIMD kernels take, rows split across threads (each chunk counts its own
// truncations; integer counts, so the total does not depend on the split).
#include "kernels/softmax_kernels.h"

#include <algorithm>
#include <atomic>

#include "kernels/int_math.h"
#include "kernels/kernel_path.h"
#include "util/error.h"
#include "util/thread_pool.h"
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/softmax_kernels_x86.h"
#define QVIT_SOFTMAX_X86 1
#endif

namespace qvit::kernels {
namespace {

// Rows per parallel chunk: ~16K elements (a few microseconds of work) per chunk hand-off.
int64_t row_grain(int32_t cols) { return std::max<int64_t>(1, 16384 / std::max<int32_t>(cols, 1)); }

// Runs rows_fn(first_row, row_count) -> truncated elements over row chunks across threads and sums
// the chunks' counts (integers: the total does not depend on the chunking).
template <class RowsFn>
int32_t rows_in_parallel(int32_t rows, int32_t cols, const RowsFn& rows_fn) {
  std::atomic<int32_t> events{0};
  parallel_for(rows, row_grain(cols), [&](int64_t begin, int64_t end) {
    events.fetch_add(rows_fn(static_cast<int32_t>(begin), static_cast<int32_t>(end - begin)), std::memory_order_relaxed);
  });
  return events.load(std::memory_order_relaxed);
}

// Events of a reference call on a row range (the plain path).
template <class RefFn>
int32_t ref_events(const RefFn& ref_fn) {
  TruncationStats s;
  ref_fn(&s);
  return static_cast<int32_t>(s.events);
}

#ifdef QVIT_SOFTMAX_X86
x86::ProbOutputArgs output_args(const ref::ProbOutput& o) {
  return {o.format == ref::ProbFormat::kLog2 ? 1 : 0, o.bits};
}
x86::IExpArgs iexp_args(const ref::IExpParams& e) { return {e.ln2, e.b, e.c, e.z_max}; }
#endif

}  // namespace

void shiftmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ref::ShiftmaxParams& p,
              TruncationStats* stats) {
  const KernelPath path = active_kernel_path();
  if (path == KernelPath::Ref) {
    ref::shiftmax(in, out, rows, cols, p, stats);
    return;
  }
  QVIT_CHECK(rows >= 0 && cols >= 0, "shiftmax: negative size");
  ref::validate(p.exp);
  ref::validate(p.output);
#ifdef QVIT_SOFTMAX_X86
  const x86::ShiftmaxArgs args{{p.exp.i0, p.exp.n}, output_args(p.output), ref::shift_exp_sum_shift(p.exp, cols)};
#endif
  const int32_t events = rows_in_parallel(rows, cols, [&](int32_t first, int32_t count) -> int32_t {
    const int64_t at = static_cast<int64_t>(first) * cols;
#ifdef QVIT_SOFTMAX_X86
    if (path == KernelPath::Avx512) return x86::shiftmax_rows_avx512(in + at, out + at, count, cols, args);
    if (uses_avx2(path)) return x86::shiftmax_rows_avx2(in + at, out + at, count, cols, args);
#endif
    return ref_events([&](TruncationStats* s) { ref::shiftmax(in + at, out + at, count, cols, p, s); });
  });
  record_truncations(stats, events, rows * cols);
}

void ibert_softmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ref::IBertSoftmaxParams& p,
                   TruncationStats* stats) {
  const KernelPath path = active_kernel_path();
  if (path == KernelPath::Ref) {
    ref::ibert_softmax(in, out, rows, cols, p, stats);
    return;
  }
  QVIT_CHECK(rows >= 0 && cols >= 0, "ibert_softmax: negative size");
  ref::validate(p.exp);
  ref::validate(p.output);
#ifdef QVIT_SOFTMAX_X86
  const x86::IBertSoftmaxArgs args{iexp_args(p.exp), output_args(p.output)};
#endif
  const int32_t events = rows_in_parallel(rows, cols, [&](int32_t first, int32_t count) -> int32_t {
    const int64_t at = static_cast<int64_t>(first) * cols;
#ifdef QVIT_SOFTMAX_X86
    if (path == KernelPath::Avx512) return x86::ibert_softmax_rows_avx512(in + at, out + at, count, cols, args);
    if (uses_avx2(path)) return x86::ibert_softmax_rows_avx2(in + at, out + at, count, cols, args);
#endif
    return ref_events([&](TruncationStats* s) { ref::ibert_softmax(in + at, out + at, count, cols, p, s); });
  });
  record_truncations(stats, events, rows * cols);
}

void int32safe_softmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                       const ref::Int32SafeSoftmaxParams& p, TruncationStats* stats) {
  const KernelPath path = active_kernel_path();
  if (path == KernelPath::Ref) {
    ref::int32safe_softmax(in, out, rows, cols, p, stats);
    return;
  }
  QVIT_CHECK(rows >= 0 && cols >= 0, "int32safe_softmax: negative size");
  ref::validate(p.exp);
  if (p.m_star < 1 || p.m_star > 30) throw Error("int32safe_softmax: M* must be in [1, 30]");
#ifdef QVIT_SOFTMAX_X86
  // The per-call constants of the reference: e_max = b^2 + c (its largest i-exp) and the sum shift.
  const Checked32 b_sq = sat_mul(p.exp.b, p.exp.b);
  const Checked32 e_max = sat_add(b_sq.value, p.exp.c);
  const int32_t sum_shift = std::max(0, ceil_log2(cols) + bit_length(e_max.value) - 31);
  const x86::Int32SafeSoftmaxArgs args{iexp_args(p.exp), p.m_star, sum_shift, (b_sq.lost || e_max.lost) ? 1 : 0};
#endif
  const int32_t events = rows_in_parallel(rows, cols, [&](int32_t first, int32_t count) -> int32_t {
    const int64_t at = static_cast<int64_t>(first) * cols;
#ifdef QVIT_SOFTMAX_X86
    if (path == KernelPath::Avx512) return x86::int32safe_softmax_rows_avx512(in + at, out + at, count, cols, args);
    if (uses_avx2(path)) return x86::int32safe_softmax_rows_avx2(in + at, out + at, count, cols, args);
#endif
    return ref_events([&](TruncationStats* s) { ref::int32safe_softmax(in + at, out + at, count, cols, p, s); });
  });
  record_truncations(stats, events, rows * cols);
}

}  // namespace qvit::kernels
