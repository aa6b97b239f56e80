#pragma once
// The x86 SIMD integer softmax kernels (Shiftmax, I-BERT softmax, int32-safe softmax), bit-exact
// with kernels/reference/{shiftmax,ibert,int32safe_softmax}.cc, truncation counts included.
// Plain declarations, POD structs and `static` scalar helpers only: the files defining these are
// compiled for their ISA (*_avx2.cc, *_avx512.cc) and must run only on a CPU that has it, and they
// must share no symbol with the rest (tests/check_isa_objects.sh); softmax_kernels.cc (the
// dispatcher) validates parameters, derives the per-call constants below, picks the ISA from the
// kernel path and splits rows across threads.
//
// Each *_rows function softmaxes `rows` rows of `cols` int32 (in may equal out) and returns the
// number of truncated elements, counted exactly as the reference counts them.
// Between passes a row of `out` holds exp codes: e_j | lost_j << 31 (every exp value is in
// [0, 2^31 - 1], so the sign bit is free for the "already lost" flag of its element).
#include <cstdint>

namespace qvit::kernels::x86 {

// `static`: each includer keeps local copies (nothing shared across instruction sets).
static constexpr int32_t kMax32 = 2147483647;
static constexpr int32_t kMin32 = -kMax32 - 1;
// Row sums of exp values (each <= 2^31 - 1) are kept clamped to 2^31: the reference's saturating
// sum is min(total, 2^31 - 1) and flags "lost" exactly when the total passed 2^31 - 1, whatever the
// order of the (nonnegative) terms, so the clamp at 2^31 keeps both facts.
static constexpr uint32_t kSumSaturated = 0x80000000u;

// The clamped row sum from the exact total of the per-lane clamped sums (each <= 2^31, so a 64-bit
// total cannot wrap; it is only the horizontal step, the terms themselves are int32).
static inline uint32_t clamp_row_sum(uint64_t lanes_total) {
  return lanes_total >= kSumSaturated ? kSumSaturated : static_cast<uint32_t>(lanes_total);
}

// The exp kernels divide by a per-call constant (q = Ip / I0, z = -I / ln2, quotients in [0, 30]) with
// a float estimate fma(float(x), fl(1/d), 2^-16): three roundings of relative error 2^-24 put the
// product within 90 * 2^-24 < 2^-17 of x/d, so the estimate lies in (x/d, x/d + 2^-15) and its
// truncation is the true quotient or one more (never above 30); the exact integer remainder tells
// which (x - q d fits int32: it is within |d| of the true remainder), and one step fixes it.
static constexpr float kQuotientBias = 1.0f / 65536;

// Each exp kernel has a checked form (every saturation of the reference detected and counted) and an
// exact one without the checks, used where no saturation can happen:
// - per row: centering x - max saturates only if the row spans more than 2^31; Shiftmax's
//   i + (i >> 1) fits int32 down to i = -1431655765 (so a span up to that keeps both in range);
// - per call: E = ((r >> 1) - I0) << (n - q) <= |I0| 2^n; i-exp's t = b - rem, rem in [0, ln2 - 1],
//   so t^2 + c is at most max(b, |b - ln2 + 1|)^2 + c.
static constexpr int64_t kShiftExpExactSpan = 1431655765;
static constexpr int64_t kIExpExactSpan = 2147483648;

struct RowRange {
  int32_t min, max;
};
static inline int64_t span(const RowRange& r) { return int64_t{r.max} - r.min; }

struct ShiftExpArgs {
  int32_t i0;  // floor(-1/S), in [-2^30, -1]
  int32_t n;   // in [0, 30], n * i0 fits int32
};

struct IExpArgs {
  int32_t ln2;    // >= 1
  int32_t b;      // >= 0
  int32_t c;      // >= 0
  int32_t z_max;  // in [0, 30], z_max * ln2 fits int32
};

static inline bool shift_exp_never_saturates(const ShiftExpArgs& p) { return (int64_t{-p.i0} << p.n) <= kMax32; }

static inline bool iexp_never_saturates(const IExpArgs& p) {
  const int64_t low = int64_t{p.b} - p.ln2 + 1, t = low < -int64_t{p.b} ? -low : p.b;  // max |t|, b >= 0
  return t * t + p.c <= kMax32;
}

struct ProbOutputArgs {
  int32_t log2;  // 0: uniform b bits (P >> (32 - b)); 1: log-sqrt2 codes of P (31 fraction bits)
  int32_t bits;  // uniform: [2, 31]; log2: [1, 16]
};

struct ShiftmaxArgs {
  ShiftExpArgs exp;
  ProbOutputArgs output;
  int32_t sum_shift;  // ref::shift_exp_sum_shift(exp, cols), in [0, 31]
};

struct IBertSoftmaxArgs {
  IExpArgs exp;
  ProbOutputArgs output;
};

struct Int32SafeSoftmaxArgs {
  IExpArgs exp;
  int32_t m_star;       // in [1, 30]
  int32_t sum_shift;    // max(0, ceil_log2(cols) + bit_length(e_max) - 31), in [0, 31]
  int32_t params_lost;  // 1 when b^2 + c itself left int32: every element counts
};

int32_t shiftmax_rows_avx2(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ShiftmaxArgs& a);
int32_t shiftmax_rows_avx512(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ShiftmaxArgs& a);
int32_t ibert_softmax_rows_avx2(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                                const IBertSoftmaxArgs& a);
int32_t ibert_softmax_rows_avx512(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                                  const IBertSoftmaxArgs& a);
int32_t int32safe_softmax_rows_avx2(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                                    const Int32SafeSoftmaxArgs& a);
int32_t int32safe_softmax_rows_avx512(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                                      const Int32SafeSoftmaxArgs& a);

// ---- Row passes shared by the files of one ISA (softmax_common_<isa>.cc, ibert_softmax_<isa>.cc) ----
// min and max of a row (cols >= 1).
RowRange row_range_avx2(const int32_t* x, int32_t cols);
RowRange row_range_avx512(const int32_t* x, int32_t cols);

// Writes the exp codes of i-exp(x_j - max x) to e_code and returns sum_j (e_j >> sum_shift)
// clamped to 2^31 (2^31 means the reference's saturating sum saturated).
uint32_t ibert_exp_row_avx2(const int32_t* x, int32_t cols, const IExpArgs& p, int32_t sum_shift, int32_t* e_code);
uint32_t ibert_exp_row_avx512(const int32_t* x, int32_t cols, const IExpArgs& p, int32_t sum_shift, int32_t* e_code);

// ref::normalize_and_emit on a row of exp codes (replaced by the outputs); clamped_sum is what the
// exp pass returned. Returns the row's truncated elements.
int32_t normalize_and_emit_row_avx2(int32_t* row, int32_t cols, uint32_t clamped_sum, int32_t sum_shift,
                                    const ProbOutputArgs& o);
int32_t normalize_and_emit_row_avx512(int32_t* row, int32_t cols, uint32_t clamped_sum, int32_t sum_shift,
                                      const ProbOutputArgs& o);

}  // namespace qvit::kernels::x86
