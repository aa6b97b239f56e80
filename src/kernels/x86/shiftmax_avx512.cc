// AVX-512 Shiftmax (kernels/reference/shiftmax.cc): I-ViT's shift exponential of the max-centered
// row, then the normalization of softmax_common with the row-length sum shift.
#include "kernels/x86/softmax_common_avx512.h"
#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {
namespace {

// ref shift_exp on 16 lanes (the steps and their exactness arguments as in shiftmax_avx2.cc);
// kChecked = false where nothing can saturate (softmax_kernels_x86.h).
template <bool kCheckedExp>
struct ShiftExp16 {
  static constexpr bool kChecked = kCheckedExp;
  __m512i i0, floor_ip, n;
  __m512 inv_i0;

  explicit ShiftExp16(const ShiftExpArgs& p)
      : i0(_mm512_set1_epi32(p.i0)),
        floor_ip(_mm512_set1_epi32(p.n * p.i0)),
        n(_mm512_set1_epi32(p.n)),
        inv_i0(_mm512_set1_ps(1.0f / static_cast<float>(p.i0))) {}

  // i <= 0; lost accumulates the reference's flags.
  __m512i operator()(__m512i i, __mmask16& lost) const {
    __m512i a = _mm512_add_epi32(i, _mm512_srai_epi32(i, 1));
    if constexpr (kChecked) {
      const __mmask16 a_lost = _mm512_cmpgt_epi32_mask(a, i);  // wrapped past INT32_MIN
      a = _mm512_mask_mov_epi32(a, a_lost, _mm512_set1_epi32(kMin32));
      lost = static_cast<__mmask16>(lost | a_lost);
    }
    const __m512i clipped = _mm512_max_epi32(_mm512_sub_epi32(a, _mm512_srai_epi32(i, 4)), floor_ip);
    // q = clipped / i0: the estimate is q or q + 1 (kQuotientBias), told apart by the remainder.
    __m512i q = _mm512_cvttps_epi32(_mm512_fmadd_ps(_mm512_cvtepi32_ps(clipped), inv_i0, _mm512_set1_ps(kQuotientBias)));
    __m512i r = _mm512_sub_epi32(clipped, _mm512_mullo_epi32(q, i0));
    const __mmask16 too_big = _mm512_cmpgt_epi32_mask(r, _mm512_setzero_si512());
    q = _mm512_mask_sub_epi32(q, too_big, q, _mm512_set1_epi32(1));
    r = _mm512_mask_add_epi32(r, too_big, r, i0);
    // E = ((r >> 1) - i0) << (n - q), saturated: the base is in [1, 2^30].
    const __m512i base = _mm512_sub_epi32(_mm512_srai_epi32(r, 1), i0);
    const __m512i shift = _mm512_sub_epi32(n, q);
    if constexpr (!kChecked) return _mm512_sllv_epi32(base, shift);
    const __mmask16 e_lost = _mm512_cmpgt_epi32_mask(base, _mm512_srlv_epi32(_mm512_set1_epi32(kMax32), shift));
    lost = static_cast<__mmask16>(lost | e_lost);
    return _mm512_mask_mov_epi32(_mm512_sllv_epi32(base, shift), e_lost, _mm512_set1_epi32(kMax32));
  }
};

}  // namespace

int32_t shiftmax_rows_avx512(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ShiftmaxArgs& a) {
  const ShiftExp16<true> checked(a.exp);
  const ShiftExp16<false> exact(a.exp);
  const bool exps_fit = shift_exp_never_saturates(a.exp);
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int64_t at = static_cast<int64_t>(r) * cols;
    const RowRange range = row_range_avx512(in + at, cols);
    const uint32_t sum = exps_fit && span(range) <= kShiftExpExactSpan
                             ? exp_row16(in + at, cols, range.max, exact, a.sum_shift, out + at)
                             : exp_row16(in + at, cols, range.max, checked, a.sum_shift, out + at);
    events += normalize_and_emit_row_avx512(out + at, cols, sum, a.sum_shift, a.output);
  }
  return events;
}

}  // namespace qvit::kernels::x86
