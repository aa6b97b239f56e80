// AVX2 int32-safe softmax (kernels/reference/int32safe_softmax.cc): i-exp of the max-centered row
// (ibert_softmax_avx2.cc), then out_j = round((e_j << (M* - s)) / D), one rounded division per
// element by the row's denominator D.
#include "kernels/x86/softmax_common_avx2.h"
#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {
namespace {

// ref div_round(num, den) for num in [0, 2^31 - 1] and a row's den in [1, 2^31 - 1], i.e.
// T = floor(Q), Q = top / (2 den), top = 2 num + den < 2^33, in doubles (every integer here is exact).
// est = top * fl(1 / (2 den)) is within Q 2^-51 of Q (two roundings). When Q is not an integer it is
// at least 1 / (2 den) from one, more than Q 2^-51 (that would need top >= 2^51): floor(est) = T.
// When Q = T exactly, est may fall just below it (e.g. den = 98, num = 49: the tie 0.5): then the
// remainder top - floor(est) 2 den, an integer below 2^34 that the FMA gives exactly, is 2 den.
struct DivRound4 {
  __m256d den, twice_den, inv_twice_den;

  explicit DivRound4(int32_t d)
      : den(_mm256_set1_pd(d)), twice_den(_mm256_set1_pd(2.0 * d)), inv_twice_den(_mm256_set1_pd(1.0 / (2.0 * d))) {}

  __m128i operator()(__m128i num) const {
    const __m256d top = _mm256_fmadd_pd(_mm256_cvtepi32_pd(num), _mm256_set1_pd(2.0), den);
    const __m256d q = _mm256_floor_pd(_mm256_mul_pd(top, inv_twice_den));
    const __m256d r = _mm256_fnmadd_pd(q, twice_den, top);
    const __m256d one_short = _mm256_cmp_pd(r, twice_den, _CMP_GE_OQ);
    return _mm256_cvttpd_epi32(_mm256_add_pd(q, _mm256_and_pd(one_short, _mm256_set1_pd(1.0))));  // T <= num: fits
  }
};

struct Int32SafeEmitConsts {
  __m128i num_shl, num_shr;  // e << (M* - s) when M* >= s, else e >> (s - M*)
  __m256i num_max;           // 2^31 - 1 >> (M* - s): larger e saturate the left shift
  __m256i keep;              // all-ones unless D = 0 (then every quotient is 0)
  __m256i row_lost;          // all-ones when D saturated or e_max left int32
};

static inline __m256i emit8(__m256i code, const Int32SafeEmitConsts& c, const DivRound4& div, __m256i& lost) {
  const __m256i e = _mm256_and_si256(code, _mm256_set1_epi32(kMax32));
  const __m256i num_lost = _mm256_cmpgt_epi32(e, c.num_max);
  const __m256i num = _mm256_blendv_epi8(_mm256_srl_epi32(_mm256_sll_epi32(e, c.num_shl), c.num_shr),
                                         _mm256_set1_epi32(kMax32), num_lost);
  const __m256i q = _mm256_and_si256(c.keep, _mm256_setr_m128i(div(_mm256_castsi256_si128(num)),
                                                                div(_mm256_extracti128_si256(num, 1))));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i nonzero_to_zero = _mm256_andnot_si256(_mm256_cmpeq_epi32(e, zero), _mm256_cmpeq_epi32(q, zero));
  lost = _mm256_or_si256(_mm256_or_si256(c.row_lost, _mm256_srai_epi32(code, 31)),
                         _mm256_or_si256(num_lost, nonzero_to_zero));
  return q;
}

int32_t emit_row(int32_t* row, int32_t cols, uint32_t clamped_sum, const Int32SafeSoftmaxArgs& a) {
  const bool sum_lost = clamped_sum == kSumSaturated;
  const bool row_lost = a.params_lost != 0 || sum_lost;
  const int32_t denom = sum_lost ? kMax32 : static_cast<int32_t>(clamped_sum);
  const int32_t shl = a.m_star >= a.sum_shift ? a.m_star - a.sum_shift : 0;
  const int32_t shr = a.m_star >= a.sum_shift ? 0 : a.sum_shift - a.m_star;
  const Int32SafeEmitConsts c{_mm_cvtsi32_si128(shl), _mm_cvtsi32_si128(shr), _mm256_set1_epi32(kMax32 >> shl),
                              _mm256_set1_epi32(denom > 0 ? -1 : 0), _mm256_set1_epi32(row_lost ? -1 : 0)};
  const DivRound4 div(denom > 0 ? denom : 1);
  __m256i events = _mm256_setzero_si256();  // lost elements per lane (lost is -1)
  int32_t j = 0;
  for (; j + kLanes8 <= cols; j += kLanes8) {
    __m256i* at = reinterpret_cast<__m256i*>(row + j);
    __m256i lost;
    _mm256_storeu_si256(at, emit8(_mm256_loadu_si256(at), c, div, lost));
    events = _mm256_sub_epi32(events, lost);
  }
  if (j < cols) {
    const __m256i mask = tail_mask8(cols - j);
    __m256i lost;
    _mm256_maskstore_epi32(row + j, mask, emit8(_mm256_maskload_epi32(row + j, mask), c, div, lost));
    events = _mm256_sub_epi32(events, _mm256_and_si256(lost, mask));
  }
  return hsum8(events);
}

}  // namespace

int32_t int32safe_softmax_rows_avx2(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                                    const Int32SafeSoftmaxArgs& a) {
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int64_t at = static_cast<int64_t>(r) * cols;
    const uint32_t sum = ibert_exp_row_avx2(in + at, cols, a.exp, a.sum_shift, out + at);
    events += emit_row(out + at, cols, sum, a);
  }
  return events;
}

}  // namespace qvit::kernels::x86
