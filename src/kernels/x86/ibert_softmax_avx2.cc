// AVX2 I-BERT softmax (kernels/reference/ibert.cc): i-exp of the max-centered row, then the
// normalization of softmax_common with sum shift 0. The i-exp row pass is shared with the
// int32-safe softmax.
#include "kernels/x86/softmax_common_avx2.h"
#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {
namespace {

// ref ibert_exp on 8 lanes; kChecked = false where nothing can saturate (softmax_kernels_x86.h).
template <bool kCheckedExp>
struct IExp8 {
  static constexpr bool kChecked = kCheckedExp;
  __m256i ln2, b, c, floor_i;
  __m256 inv_ln2;

  explicit IExp8(const IExpArgs& p)
      : ln2(_mm256_set1_epi32(p.ln2)),
        b(_mm256_set1_epi32(p.b)),
        c(_mm256_set1_epi32(p.c)),
        floor_i(_mm256_set1_epi32(-p.z_max * p.ln2)),
        inv_ln2(_mm256_set1_ps(1.0f / static_cast<float>(p.ln2))) {}

  // i <= 0; lost accumulates the reference's flags.
  __m256i operator()(__m256i i, __m256i& lost) const {
    const __m256i zero = _mm256_setzero_si256();
    const __m256i neg = _mm256_sub_epi32(zero, _mm256_max_epi32(i, floor_i));  // -clipped, in [0, z_max ln2]
    // z = neg / ln2 (<= z_max): the estimate is z or z + 1 (kQuotientBias); with z + 1 the
    // remainder neg - z ln2 is negative.
    __m256i z = _mm256_cvttps_epi32(_mm256_fmadd_ps(_mm256_cvtepi32_ps(neg), inv_ln2, _mm256_set1_ps(kQuotientBias)));
    __m256i rem = _mm256_sub_epi32(neg, _mm256_mullo_epi32(z, ln2));
    const __m256i too_big = _mm256_cmpgt_epi32(zero, rem);
    z = _mm256_add_epi32(z, too_big);
    rem = _mm256_add_epi32(rem, _mm256_and_si256(too_big, ln2));
    // t = frac + b with frac = -rem in (-ln2, 0]: no overflow. t^2 fits int32 iff |t| <= 46340.
    const __m256i t = _mm256_sub_epi32(b, rem);
    if constexpr (!kChecked) return _mm256_srlv_epi32(_mm256_add_epi32(_mm256_mullo_epi32(t, t), c), z);
    const __m256i sq_lost = _mm256_cmpgt_epi32(_mm256_abs_epi32(t), _mm256_set1_epi32(46340));
    const __m256i sq = _mm256_blendv_epi8(_mm256_mullo_epi32(t, t), _mm256_set1_epi32(kMax32), sq_lost);
    // sq, c in [0, 2^31 - 1]: the wrapped sum is negative exactly when the true one passed 2^31 - 1.
    __m256i poly = _mm256_add_epi32(sq, c);
    const __m256i poly_lost = _mm256_cmpgt_epi32(zero, poly);
    poly = _mm256_blendv_epi8(poly, _mm256_set1_epi32(kMax32), poly_lost);
    lost = _mm256_or_si256(lost, _mm256_or_si256(sq_lost, poly_lost));
    return _mm256_srlv_epi32(poly, z);  // poly >= 0, z <= 30
  }
};

}  // namespace

uint32_t ibert_exp_row_avx2(const int32_t* x, int32_t cols, const IExpArgs& p, int32_t sum_shift, int32_t* e_code) {
  const RowRange range = row_range_avx2(x, cols);
  if (iexp_never_saturates(p) && span(range) <= kIExpExactSpan)
    return exp_row8(x, cols, range.max, IExp8<false>(p), sum_shift, e_code);
  return exp_row8(x, cols, range.max, IExp8<true>(p), sum_shift, e_code);
}

int32_t ibert_softmax_rows_avx2(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                                const IBertSoftmaxArgs& a) {
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int64_t at = static_cast<int64_t>(r) * cols;
    const uint32_t sum = ibert_exp_row_avx2(in + at, cols, a.exp, 0, out + at);
    events += normalize_and_emit_row_avx2(out + at, cols, sum, 0, a.output);
  }
  return events;
}

}  // namespace qvit::kernels::x86
