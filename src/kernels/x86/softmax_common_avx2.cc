// AVX2 row passes shared by Shiftmax, I-BERT and the int32-safe softmax: the row max and the
// I-ViT normalization with its output forms (kernels/reference/softmax_common.cc).
#include "kernels/x86/softmax_common_avx2.h"
#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {
namespace {

struct EmitConsts {
  __m128i sum_shift;   // E' = E >> s
  __m256i factor;      // F = floor((2^31 - 1) / sum E')
  __m128i out_shift;   // uniform: P >> (32 - b)
  __m256i zero_out;    // the output of a zero probability: 0, or the log2 zero code 2^b
  __m256i row_lost;    // all-ones when the row sum saturated
};

// ref prob_to_log2_code(p, 31, bits) for p >= 0.
static inline __m256i log2_code8(__m256i p, __m256i zero_code) {
  const __m256i zero = _mm256_setzero_si256();
  // floor(log2 p) from the exponent of float(p); the rounding of the conversion may carry p up to the
  // next power of 2, and then p >> exponent is 0. (p = 0 gives garbage here, replaced below.)
  const __m256i exponent = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(p)), 23);
  __m256i lead = _mm256_sub_epi32(exponent, _mm256_set1_epi32(127));
  lead = _mm256_add_epi32(lead, _mm256_cmpeq_epi32(_mm256_srlv_epi32(p, lead), zero));
  // The 16 leading bits m in [2^15, 2^16): a shift count < 0 reads as >= 32 and gives 0, so one of
  // the two shifts is 0 unless lead = 15, where both are p.
  const __m256i c15 = _mm256_set1_epi32(15);
  const __m256i m = _mm256_or_si256(_mm256_srlv_epi32(p, _mm256_sub_epi32(lead, c15)),
                                    _mm256_sllv_epi32(p, _mm256_sub_epi32(c15, lead)));
  const __m256i twice_frac = _mm256_sub_epi32(zero, _mm256_add_epi32(_mm256_cmpgt_epi32(m, _mm256_set1_epi32(55108)),
                                                                     _mm256_cmpgt_epi32(m, _mm256_set1_epi32(38967))));
  __m256i code = _mm256_sub_epi32(_mm256_slli_epi32(_mm256_sub_epi32(_mm256_set1_epi32(31), lead), 1), twice_frac);
  code = _mm256_min_epi32(_mm256_max_epi32(code, zero), zero_code);
  return _mm256_blendv_epi8(code, zero_code, _mm256_cmpeq_epi32(p, zero));
}

// Outputs of 8 exp codes; lost = the reference's per-element truncation condition.
template <bool kLog2>
static inline __m256i emit8(__m256i code, const EmitConsts& c, __m256i& lost) {
  const __m256i e = _mm256_and_si256(code, _mm256_set1_epi32(kMax32));
  const __m256i p_q31 = _mm256_mullo_epi32(_mm256_srl_epi32(e, c.sum_shift), c.factor);  // <= 2^31 - 1
  const __m256i out = kLog2 ? log2_code8(p_q31, c.zero_out) : _mm256_srl_epi32(p_q31, c.out_shift);
  const __m256i nonzero_to_zero = _mm256_andnot_si256(_mm256_cmpeq_epi32(e, _mm256_setzero_si256()),
                                                      _mm256_cmpeq_epi32(out, c.zero_out));
  lost = _mm256_or_si256(_mm256_or_si256(c.row_lost, _mm256_srai_epi32(code, 31)), nonzero_to_zero);
  return out;
}

template <bool kLog2>
static inline int32_t emit_row8(int32_t* row, int32_t cols, const EmitConsts& c) {
  __m256i events = _mm256_setzero_si256();  // lost elements per lane (lost is -1)
  int32_t j = 0;
  for (; j + kLanes8 <= cols; j += kLanes8) {
    __m256i* at = reinterpret_cast<__m256i*>(row + j);
    __m256i lost;
    _mm256_storeu_si256(at, emit8<kLog2>(_mm256_loadu_si256(at), c, lost));
    events = _mm256_sub_epi32(events, lost);
  }
  if (j < cols) {
    const __m256i mask = tail_mask8(cols - j);
    __m256i lost;
    _mm256_maskstore_epi32(row + j, mask, emit8<kLog2>(_mm256_maskload_epi32(row + j, mask), c, lost));
    events = _mm256_sub_epi32(events, _mm256_and_si256(lost, mask));
  }
  return hsum8(events);
}

}  // namespace

RowRange row_range_avx2(const int32_t* x, int32_t cols) {
  __m256i lo = _mm256_set1_epi32(kMax32), hi = _mm256_set1_epi32(kMin32);
  int32_t j = 0;
  for (; j + kLanes8 <= cols; j += kLanes8) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + j));
    lo = _mm256_min_epi32(lo, v);
    hi = _mm256_max_epi32(hi, v);
  }
  if (j < cols) {
    const __m256i mask = tail_mask8(cols - j);
    const __m256i v = _mm256_maskload_epi32(x + j, mask);
    lo = _mm256_min_epi32(lo, _mm256_blendv_epi8(_mm256_set1_epi32(kMax32), v, mask));
    hi = _mm256_max_epi32(hi, _mm256_blendv_epi8(_mm256_set1_epi32(kMin32), v, mask));
  }
  __m128i l = _mm_min_epi32(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1));
  __m128i h = _mm_max_epi32(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
  l = _mm_min_epi32(l, _mm_shuffle_epi32(l, _MM_SHUFFLE(1, 0, 3, 2)));
  h = _mm_max_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
  l = _mm_min_epi32(l, _mm_shuffle_epi32(l, _MM_SHUFFLE(2, 3, 0, 1)));
  h = _mm_max_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
  return {_mm_cvtsi128_si32(l), _mm_cvtsi128_si32(h)};
}

int32_t normalize_and_emit_row_avx2(int32_t* row, int32_t cols, uint32_t clamped_sum, int32_t sum_shift,
                                    const ProbOutputArgs& o) {
  const bool row_lost = clamped_sum == kSumSaturated;
  const int32_t sum = row_lost ? kMax32 : static_cast<int32_t>(clamped_sum);
  const int32_t factor = sum > 0 ? kMax32 / sum : 0;  // sum = 0 only if every E' is 0
  const EmitConsts c{_mm_cvtsi32_si128(sum_shift),
                     _mm256_set1_epi32(factor),
                     _mm_cvtsi32_si128(32 - o.bits),
                     _mm256_set1_epi32(o.log2 ? (1 << o.bits) : 0),
                     _mm256_set1_epi32(row_lost ? -1 : 0)};
  return o.log2 ? emit_row8<true>(row, cols, c) : emit_row8<false>(row, cols, c);
}

}  // namespace qvit::kernels::x86
