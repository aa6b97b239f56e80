// AVX-512 int32-safe softmax (kernels/reference/int32safe_softmax.cc): i-exp of the max-centered
// row (ibert_softmax_avx512.cc), then out_j = round((e_j << (M* - s)) / D), one rounded division
// per element by the row's denominator D.
#include "kernels/x86/softmax_common_avx512.h"
#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {
namespace {

// ref div_round(num, den) for num in [0, 2^31 - 1], den in [1, 2^31 - 1] on 8 lanes:
// T = floor((2 num + den) / (2 den)) in doubles (exactness argument in int32safe_softmax_avx2.cc).
struct DivRound8 {
  __m512d den, twice_den, inv_twice_den;

  explicit DivRound8(int32_t d)
      : den(_mm512_set1_pd(d)), twice_den(_mm512_set1_pd(2.0 * d)), inv_twice_den(_mm512_set1_pd(1.0 / (2.0 * d))) {}

  __m256i operator()(__m256i num) const {
    const __m512d top = _mm512_fmadd_pd(_mm512_cvtepi32_pd(num), _mm512_set1_pd(2.0), den);
    __m512d q = _mm512_roundscale_pd(_mm512_mul_pd(top, inv_twice_den), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512d r = _mm512_fnmadd_pd(q, twice_den, top);
    q = _mm512_mask_add_pd(q, _mm512_cmp_pd_mask(r, twice_den, _CMP_GE_OQ), q, _mm512_set1_pd(1.0));
    return _mm512_cvttpd_epi32(q);  // T <= num: fits
  }
};

struct Int32SafeEmitConsts {
  __m128i num_shl, num_shr;  // e << (M* - s) when M* >= s, else e >> (s - M*)
  __m512i num_max;           // 2^31 - 1 >> (M* - s): larger e saturate the left shift
  __mmask16 keep;            // all lanes unless D = 0 (then every quotient is 0)
  __mmask16 row_lost;        // all lanes when D saturated or e_max left int32
};

static inline __m512i emit16(__m512i code, const Int32SafeEmitConsts& c, const DivRound8& div, __mmask16& lost) {
  const __m512i e = _mm512_and_si512(code, _mm512_set1_epi32(kMax32));
  const __mmask16 num_lost = _mm512_cmpgt_epi32_mask(e, c.num_max);
  const __m512i num = _mm512_mask_mov_epi32(_mm512_srl_epi32(_mm512_sll_epi32(e, c.num_shl), c.num_shr), num_lost,
                                            _mm512_set1_epi32(kMax32));
  const __m512i q = _mm512_maskz_mov_epi32(
      c.keep, _mm512_inserti64x4(_mm512_castsi256_si512(div(_mm512_castsi512_si256(num))),
                                 div(_mm512_extracti64x4_epi64(num, 1)), 1));
  const __mmask16 nonzero_to_zero = _mm512_mask_cmpeq_epi32_mask(_mm512_test_epi32_mask(e, e), q, _mm512_setzero_si512());
  lost = static_cast<__mmask16>(c.row_lost | _mm512_movepi32_mask(code) | num_lost | nonzero_to_zero);
  return q;
}

int32_t emit_row(int32_t* row, int32_t cols, uint32_t clamped_sum, const Int32SafeSoftmaxArgs& a) {
  const bool sum_lost = clamped_sum == kSumSaturated;
  const bool row_lost = a.params_lost != 0 || sum_lost;
  const int32_t denom = sum_lost ? kMax32 : static_cast<int32_t>(clamped_sum);
  const int32_t shl = a.m_star >= a.sum_shift ? a.m_star - a.sum_shift : 0;
  const int32_t shr = a.m_star >= a.sum_shift ? 0 : a.sum_shift - a.m_star;
  const Int32SafeEmitConsts c{_mm_cvtsi32_si128(shl), _mm_cvtsi32_si128(shr), _mm512_set1_epi32(kMax32 >> shl),
                              static_cast<__mmask16>(denom > 0 ? 0xFFFF : 0),
                              static_cast<__mmask16>(row_lost ? 0xFFFF : 0)};
  const DivRound8 div(denom > 0 ? denom : 1);
  int32_t events = 0;
  int32_t j = 0;
  for (; j + kLanes16 <= cols; j += kLanes16) {
    __mmask16 lost;
    _mm512_storeu_si512(row + j, emit16(_mm512_loadu_si512(row + j), c, div, lost));
    events += count16(lost);
  }
  if (j < cols) {
    const __mmask16 mask = tail_mask16(cols - j);
    __mmask16 lost;
    _mm512_mask_storeu_epi32(row + j, mask, emit16(_mm512_maskz_loadu_epi32(mask, row + j), c, div, lost));
    events += count16(static_cast<__mmask16>(lost & mask));
  }
  return events;
}

}  // namespace

int32_t int32safe_softmax_rows_avx512(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                                      const Int32SafeSoftmaxArgs& a) {
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int64_t at = static_cast<int64_t>(r) * cols;
    const uint32_t sum = ibert_exp_row_avx512(in + at, cols, a.exp, a.sum_shift, out + at);
    events += emit_row(out + at, cols, sum, a);
  }
  return events;
}

}  // namespace qvit::kernels::x86
