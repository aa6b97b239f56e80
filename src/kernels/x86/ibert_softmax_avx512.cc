// AVX-512 I-BERT softmax (kernels/reference/ibert.cc): i-exp of the max-centered row, then the
// normalization of softmax_common with sum shift 0. The i-exp row pass is shared with the
// int32-safe softmax.
#include "kernels/x86/softmax_common_avx512.h"
#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {
namespace {

// ref ibert_exp on 16 lanes (the steps and their exactness arguments as in ibert_softmax_avx2.cc);
// kChecked = false where nothing can saturate (softmax_kernels_x86.h).
template <bool kCheckedExp>
struct IExp16 {
  static constexpr bool kChecked = kCheckedExp;
  __m512i ln2, b, c, floor_i;
  __m512 inv_ln2;

  explicit IExp16(const IExpArgs& p)
      : ln2(_mm512_set1_epi32(p.ln2)),
        b(_mm512_set1_epi32(p.b)),
        c(_mm512_set1_epi32(p.c)),
        floor_i(_mm512_set1_epi32(-p.z_max * p.ln2)),
        inv_ln2(_mm512_set1_ps(1.0f / static_cast<float>(p.ln2))) {}

  // i <= 0; lost accumulates the reference's flags.
  __m512i operator()(__m512i i, __mmask16& lost) const {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i neg = _mm512_sub_epi32(zero, _mm512_max_epi32(i, floor_i));  // -clipped, in [0, z_max ln2]
    // z = neg / ln2: the estimate is z or z + 1 (kQuotientBias), told apart by the remainder.
    __m512i z = _mm512_cvttps_epi32(_mm512_fmadd_ps(_mm512_cvtepi32_ps(neg), inv_ln2, _mm512_set1_ps(kQuotientBias)));
    __m512i rem = _mm512_sub_epi32(neg, _mm512_mullo_epi32(z, ln2));
    const __mmask16 too_big = _mm512_cmplt_epi32_mask(rem, zero);
    z = _mm512_mask_sub_epi32(z, too_big, z, _mm512_set1_epi32(1));
    rem = _mm512_mask_add_epi32(rem, too_big, rem, ln2);
    // t = b - rem cannot overflow; t^2 fits int32 iff |t| <= 46340.
    const __m512i t = _mm512_sub_epi32(b, rem);
    if constexpr (!kChecked) return _mm512_srlv_epi32(_mm512_add_epi32(_mm512_mullo_epi32(t, t), c), z);
    const __mmask16 sq_lost = _mm512_cmpgt_epi32_mask(_mm512_abs_epi32(t), _mm512_set1_epi32(46340));
    const __m512i sq = _mm512_mask_mov_epi32(_mm512_mullo_epi32(t, t), sq_lost, _mm512_set1_epi32(kMax32));
    // sq, c in [0, 2^31 - 1]: the wrapped sum is negative exactly when the true one passed 2^31 - 1.
    __m512i poly = _mm512_add_epi32(sq, c);
    const __mmask16 poly_lost = _mm512_movepi32_mask(poly);
    poly = _mm512_mask_mov_epi32(poly, poly_lost, _mm512_set1_epi32(kMax32));
    lost = static_cast<__mmask16>(lost | sq_lost | poly_lost);
    return _mm512_srlv_epi32(poly, z);  // poly >= 0, z <= 30
  }
};

}  // namespace

uint32_t ibert_exp_row_avx512(const int32_t* x, int32_t cols, const IExpArgs& p, int32_t sum_shift, int32_t* e_code) {
  const RowRange range = row_range_avx512(x, cols);
  if (iexp_never_saturates(p) && span(range) <= kIExpExactSpan)
    return exp_row16(x, cols, range.max, IExp16<false>(p), sum_shift, e_code);
  return exp_row16(x, cols, range.max, IExp16<true>(p), sum_shift, e_code);
}

int32_t ibert_softmax_rows_avx512(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                                  const IBertSoftmaxArgs& a) {
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int64_t at = static_cast<int64_t>(r) * cols;
    const uint32_t sum = ibert_exp_row_avx512(in + at, cols, a.exp, 0, out + at);
    events += normalize_and_emit_row_avx512(out + at, cols, sum, 0, a.output);
  }
  return events;
}

}  // namespace qvit::kernels::x86
