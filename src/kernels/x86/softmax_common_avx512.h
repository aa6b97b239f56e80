#pragma once
// AVX-512 vector steps shared by the softmax files of the AVX-512 path. Include ONLY from
// *_avx512.cc: everything here is `static inline` (each includer gets a local copy, never a shared
// symbol). Row tails use the lane masks of AVX-512 (masked-off lanes are neither read nor written).
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized / -Wuninitialized on their own
// `_mm512_undefined_*` (`__m512i __Y = __Y;`, GCC PR 105593) wherever an intrinsic using it is
// inlined; the warnings are located in the header, so silencing them for its lines is enough.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cstdint>

#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {

static constexpr int32_t kLanes16 = 16;

static inline __mmask16 tail_mask16(int32_t rem) { return static_cast<__mmask16>((1u << rem) - 1u); }

// ref sat_sub(x, max) for x <= max: the true difference lies in [-(2^32 - 1), 0], so it left int32
// exactly when the wrapped difference is > 0; then the reference saturates to INT32_MIN.
static inline __m512i centered16(__m512i x, __m512i max, __mmask16& lost) {
  const __m512i d = _mm512_sub_epi32(x, max);
  const __mmask16 over = _mm512_cmpgt_epi32_mask(d, _mm512_setzero_si512());
  lost = static_cast<__mmask16>(lost | over);
  return _mm512_mask_mov_epi32(d, over, _mm512_set1_epi32(kMin32));
}

// x - max, checked (centered16) or not (the row's span cannot saturate it).
template <bool kChecked>
static inline __m512i center16(__m512i x, __m512i max, __mmask16& lost) {
  if constexpr (kChecked) return centered16(x, max, lost);
  static_cast<void>(lost);
  return _mm512_sub_epi32(x, max);
}

// Per-lane uint32 acc = min(acc + v, 2^31) (kSumSaturated) with acc <= 2^31, v <= 2^31 - 1: no wrap.
static inline __m512i add_clamped16(__m512i acc, __m512i v) {
  return _mm512_min_epu32(_mm512_add_epi32(acc, v), _mm512_set1_epi32(static_cast<int32_t>(kSumSaturated)));
}

static inline uint32_t reduce_clamped16(__m512i acc) {
  const __m512i wide = _mm512_add_epi64(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(acc)),
                                        _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(acc, 1)));
  return clamp_row_sum(static_cast<uint64_t>(_mm512_reduce_add_epi64(wide)));
}

static inline int32_t count16(__mmask16 m) { return __builtin_popcount(static_cast<unsigned>(m)); }

// Exp code of the softmax_kernels_x86.h row format: e | lost << 31.
static inline __m512i exp_code16(__m512i e, __mmask16 lost) {
  return _mm512_mask_or_epi32(e, lost, e, _mm512_set1_epi32(kMin32));
}

// The exp pass of one row (ref exp_of_centered_row plus the sum of shifted_row_sum): writes the
// exp codes of exp(x_j - row_max) to e_code (which may be x) and returns sum_j (e_j >> sum_shift)
// clamped to 2^31. Exp: a functor `__m512i operator()(__m512i centered, __mmask16& lost) const` with
// `static constexpr bool kChecked` (false: the row's span cannot saturate the centering), defined in
// an unnamed namespace (so that it, and this instantiation, stay local).
template <class Exp>
static inline uint32_t exp_row16(const int32_t* x, int32_t cols, int32_t row_max, const Exp& exp, int32_t sum_shift,
                                 int32_t* e_code) {
  const __m512i max = _mm512_set1_epi32(row_max);
  const __m128i shift = _mm_cvtsi32_si128(sum_shift);
  __m512i sum = _mm512_setzero_si512();
  int32_t j = 0;
  for (; j + kLanes16 <= cols; j += kLanes16) {
    __mmask16 lost = 0;
    const __m512i e = exp(center16<Exp::kChecked>(_mm512_loadu_si512(x + j), max, lost), lost);
    sum = add_clamped16(sum, _mm512_srl_epi32(e, shift));
    _mm512_storeu_si512(e_code + j, exp_code16(e, lost));
  }
  if (j < cols) {
    const __mmask16 mask = tail_mask16(cols - j);
    __mmask16 lost = 0;
    const __m512i e = exp(center16<Exp::kChecked>(_mm512_maskz_loadu_epi32(mask, x + j), max, lost), lost);
    sum = add_clamped16(sum, _mm512_maskz_srl_epi32(mask, e, shift));
    _mm512_mask_storeu_epi32(e_code + j, mask, exp_code16(e, lost));
  }
  return reduce_clamped16(sum);
}

}  // namespace qvit::kernels::x86
