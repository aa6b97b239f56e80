// AVX2 Shiftmax (kernels/reference/shiftmax.cc): I-ViT's shift exponential of the max-centered
// row, then the normalization of softmax_common with the row-length sum shift.
#include "kernels/x86/softmax_common_avx2.h"
#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {
namespace {

// ref shift_exp on 8 lanes; kChecked = false where nothing can saturate (softmax_kernels_x86.h).
template <bool kCheckedExp>
struct ShiftExp8 {
  static constexpr bool kChecked = kCheckedExp;
  __m256i i0, floor_ip, n;
  __m256 inv_i0;

  explicit ShiftExp8(const ShiftExpArgs& p)
      : i0(_mm256_set1_epi32(p.i0)),
        floor_ip(_mm256_set1_epi32(p.n * p.i0)),
        n(_mm256_set1_epi32(p.n)),
        inv_i0(_mm256_set1_ps(1.0f / static_cast<float>(p.i0))) {}

  // i <= 0; lost accumulates the reference's flags.
  __m256i operator()(__m256i i, __m256i& lost) const {
    __m256i a = _mm256_add_epi32(i, _mm256_srai_epi32(i, 1));
    if constexpr (kChecked) {
      // i + (i >> 1) of two values <= 0 wrapped (to >= 0) exactly when it passed INT32_MIN: then it
      // is above i.
      const __m256i a_lost = _mm256_cmpgt_epi32(a, i);
      a = _mm256_blendv_epi8(a, _mm256_set1_epi32(kMin32), a_lost);
      lost = _mm256_or_si256(lost, a_lost);
    }
    // - (i >> 4) adds at most 2^27 to a value <= 0: it cannot overflow.
    const __m256i clipped = _mm256_max_epi32(_mm256_sub_epi32(a, _mm256_srai_epi32(i, 4)), floor_ip);
    // q = clipped / i0 in [0, n] (both <= 0): the estimate is q or q + 1 (kQuotientBias); with q + 1
    // the remainder r = clipped - q i0 lands in (0, -i0] instead of (i0, 0].
    __m256i q = _mm256_cvttps_epi32(_mm256_fmadd_ps(_mm256_cvtepi32_ps(clipped), inv_i0, _mm256_set1_ps(kQuotientBias)));
    __m256i r = _mm256_sub_epi32(clipped, _mm256_mullo_epi32(q, i0));
    const __m256i too_big = _mm256_cmpgt_epi32(r, _mm256_setzero_si256());
    q = _mm256_add_epi32(q, too_big);
    r = _mm256_add_epi32(r, _mm256_and_si256(too_big, i0));
    // E = ((r >> 1) - i0) << (n - q), saturated: the base is in [1, 2^30].
    const __m256i base = _mm256_sub_epi32(_mm256_srai_epi32(r, 1), i0);
    const __m256i shift = _mm256_sub_epi32(n, q);
    if constexpr (!kChecked) return _mm256_sllv_epi32(base, shift);
    const __m256i e_lost = _mm256_cmpgt_epi32(base, _mm256_srlv_epi32(_mm256_set1_epi32(kMax32), shift));
    lost = _mm256_or_si256(lost, e_lost);
    return _mm256_blendv_epi8(_mm256_sllv_epi32(base, shift), _mm256_set1_epi32(kMax32), e_lost);
  }
};

}  // namespace

int32_t shiftmax_rows_avx2(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ShiftmaxArgs& a) {
  const ShiftExp8<true> checked(a.exp);
  const ShiftExp8<false> exact(a.exp);
  const bool exps_fit = shift_exp_never_saturates(a.exp);
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int64_t at = static_cast<int64_t>(r) * cols;
    const RowRange range = row_range_avx2(in + at, cols);
    const uint32_t sum = exps_fit && span(range) <= kShiftExpExactSpan
                             ? exp_row8(in + at, cols, range.max, exact, a.sum_shift, out + at)
                             : exp_row8(in + at, cols, range.max, checked, a.sum_shift, out + at);
    events += normalize_and_emit_row_avx2(out + at, cols, sum, a.sum_shift, a.output);
  }
  return events;
}

}  // namespace qvit::kernels::x86
