// AVX-512 row passes shared by Shiftmax, I-BERT and the int32-safe softmax: the row max and the
// I-ViT normalization with its output forms (kernels/reference/softmax_common.cc).
#include "kernels/x86/softmax_common_avx512.h"
#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {
namespace {

struct EmitConsts {
  __m128i sum_shift;   // E' = E >> s
  __m512i factor;      // F = floor((2^31 - 1) / sum E')
  __m128i out_shift;   // uniform: P >> (32 - b)
  __m512i zero_out;    // the output of a zero probability: 0, or the log2 zero code 2^b
  __mmask16 row_lost;  // all lanes when the row sum saturated
};

// ref prob_to_log2_code(p, 31, bits) for p >= 0.
static inline __m512i log2_code16(__m512i p, __m512i zero_code) {
  const __m512i zero = _mm512_setzero_si512();
  // floor(log2 p) exactly: the exponent of float(p) converted toward zero, which never carries p up
  // to the next power of 2. (p = 0 gives garbage here, replaced below.)
  const __m512 p_down = _mm512_cvt_roundepi32_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512i lead = _mm512_sub_epi32(_mm512_srli_epi32(_mm512_castps_si512(p_down), 23), _mm512_set1_epi32(127));
  // The 16 leading bits m in [2^15, 2^16): a shift count < 0 reads as >= 32 and gives 0, so one of
  // the two shifts is 0 unless lead = 15, where both are p.
  const __m512i c15 = _mm512_set1_epi32(15);
  const __m512i m = _mm512_or_si512(_mm512_srlv_epi32(p, _mm512_sub_epi32(lead, c15)),
                                    _mm512_sllv_epi32(p, _mm512_sub_epi32(c15, lead)));
  const __m512i one = _mm512_set1_epi32(1);
  __m512i code = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_set1_epi32(31), lead), 1);
  code = _mm512_mask_sub_epi32(code, _mm512_cmpgt_epi32_mask(m, _mm512_set1_epi32(55108)), code, one);
  code = _mm512_mask_sub_epi32(code, _mm512_cmpgt_epi32_mask(m, _mm512_set1_epi32(38967)), code, one);
  code = _mm512_min_epi32(_mm512_max_epi32(code, zero), zero_code);
  return _mm512_mask_mov_epi32(code, _mm512_cmpeq_epi32_mask(p, zero), zero_code);
}

// Outputs of 16 exp codes; lost = the reference's per-element truncation condition.
template <bool kLog2>
static inline __m512i emit16(__m512i code, const EmitConsts& c, __mmask16& lost) {
  const __m512i e = _mm512_and_si512(code, _mm512_set1_epi32(kMax32));
  const __m512i p_q31 = _mm512_mullo_epi32(_mm512_srl_epi32(e, c.sum_shift), c.factor);  // <= 2^31 - 1
  const __m512i out = kLog2 ? log2_code16(p_q31, c.zero_out) : _mm512_srl_epi32(p_q31, c.out_shift);
  const __mmask16 nonzero_to_zero = _mm512_mask_cmpeq_epi32_mask(_mm512_test_epi32_mask(e, e), out, c.zero_out);
  lost = static_cast<__mmask16>(c.row_lost | _mm512_movepi32_mask(code) | nonzero_to_zero);
  return out;
}

template <bool kLog2>
static inline int32_t emit_row16(int32_t* row, int32_t cols, const EmitConsts& c) {
  int32_t events = 0;
  int32_t j = 0;
  for (; j + kLanes16 <= cols; j += kLanes16) {
    __mmask16 lost;
    _mm512_storeu_si512(row + j, emit16<kLog2>(_mm512_loadu_si512(row + j), c, lost));
    events += count16(lost);
  }
  if (j < cols) {
    const __mmask16 mask = tail_mask16(cols - j);
    __mmask16 lost;
    _mm512_mask_storeu_epi32(row + j, mask, emit16<kLog2>(_mm512_maskz_loadu_epi32(mask, row + j), c, lost));
    events += count16(static_cast<__mmask16>(lost & mask));
  }
  return events;
}

}  // namespace

RowRange row_range_avx512(const int32_t* x, int32_t cols) {
  __m512i lo = _mm512_set1_epi32(kMax32), hi = _mm512_set1_epi32(kMin32);
  int32_t j = 0;
  for (; j + kLanes16 <= cols; j += kLanes16) {
    const __m512i v = _mm512_loadu_si512(x + j);
    lo = _mm512_min_epi32(lo, v);
    hi = _mm512_max_epi32(hi, v);
  }
  if (j < cols) {
    const __mmask16 mask = tail_mask16(cols - j);
    const __m512i v = _mm512_maskz_loadu_epi32(mask, x + j);
    lo = _mm512_mask_min_epi32(lo, mask, lo, v);
    hi = _mm512_mask_max_epi32(hi, mask, hi, v);
  }
  return {_mm512_reduce_min_epi32(lo), _mm512_reduce_max_epi32(hi)};
}

int32_t normalize_and_emit_row_avx512(int32_t* row, int32_t cols, uint32_t clamped_sum, int32_t sum_shift,
                                      const ProbOutputArgs& o) {
  const bool row_lost = clamped_sum == kSumSaturated;
  const int32_t sum = row_lost ? kMax32 : static_cast<int32_t>(clamped_sum);
  const int32_t factor = sum > 0 ? kMax32 / sum : 0;  // sum = 0 only if every E' is 0
  const EmitConsts c{_mm_cvtsi32_si128(sum_shift),
                     _mm512_set1_epi32(factor),
                     _mm_cvtsi32_si128(32 - o.bits),
                     _mm512_set1_epi32(o.log2 ? (1 << o.bits) : 0),
                     static_cast<__mmask16>(row_lost ? 0xFFFF : 0)};
  return o.log2 ? emit_row16<true>(row, cols, c) : emit_row16<false>(row, cols, c);
}

}  // namespace qvit::kernels::x86
