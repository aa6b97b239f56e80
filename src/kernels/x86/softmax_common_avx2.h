#pragma once
// AVX2 vector steps shared by the softmax files of the AVX2 path. Include ONLY from *_avx2.cc:
// everything here is `static inline` (each includer gets a local copy, never a shared symbol).
#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/softmax_kernels_x86.h"

namespace qvit::kernels::x86 {

static constexpr int32_t kLanes8 = 8;

// All-ones in lanes [0, rem) (rem in [1, 7]): the mask of a row's tail for maskload/maskstore.
static inline __m256i tail_mask8(int32_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ref sat_sub(x, max) for x <= max: the true difference lies in [-(2^32 - 1), 0], so it left int32
// exactly when the wrapped difference is > 0; then the reference saturates to INT32_MIN.
static inline __m256i centered8(__m256i x, __m256i max, __m256i& lost) {
  const __m256i d = _mm256_sub_epi32(x, max);
  const __m256i over = _mm256_cmpgt_epi32(d, _mm256_setzero_si256());
  lost = _mm256_or_si256(lost, over);
  return _mm256_blendv_epi8(d, _mm256_set1_epi32(kMin32), over);
}

// x - max, checked (centered8) or not (the row's span cannot saturate it).
template <bool kChecked>
static inline __m256i center8(__m256i x, __m256i max, __m256i& lost) {
  if constexpr (kChecked) return centered8(x, max, lost);
  static_cast<void>(lost);
  return _mm256_sub_epi32(x, max);
}

// Per-lane uint32 acc = min(acc + v, 2^31) (kSumSaturated) with acc <= 2^31, v <= 2^31 - 1: no wrap.
static inline __m256i add_clamped8(__m256i acc, __m256i v) {
  return _mm256_min_epu32(_mm256_add_epi32(acc, v), _mm256_set1_epi32(static_cast<int32_t>(kSumSaturated)));
}

static inline uint32_t reduce_clamped8(__m256i acc) {
  const __m256i wide = _mm256_add_epi64(_mm256_cvtepu32_epi64(_mm256_castsi256_si128(acc)),
                                        _mm256_cvtepu32_epi64(_mm256_extracti128_si256(acc, 1)));
  __m128i total = _mm_add_epi64(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
  total = _mm_add_epi64(total, _mm_unpackhi_epi64(total, total));
  return clamp_row_sum(static_cast<uint64_t>(_mm_cvtsi128_si64(total)));
}

static inline int32_t hsum8(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// Exp code of the softmax_kernels_x86.h row format: e | lost << 31 (lost is all-ones or 0).
static inline __m256i exp_code8(__m256i e, __m256i lost) { return _mm256_or_si256(e, _mm256_slli_epi32(lost, 31)); }

// The exp pass of one row (ref exp_of_centered_row plus the sum of shifted_row_sum): writes the
// exp codes of exp(x_j - row_max) to e_code (which may be x) and returns sum_j (e_j >> sum_shift)
// clamped to 2^31. Exp: a functor `__m256i operator()(__m256i centered, __m256i& lost) const` with
// `static constexpr bool kChecked` (false: the row's span cannot saturate the centering), defined in
// an unnamed namespace (so that it, and this instantiation, stay local).
template <class Exp>
static inline uint32_t exp_row8(const int32_t* x, int32_t cols, int32_t row_max, const Exp& exp, int32_t sum_shift,
                                int32_t* e_code) {
  const __m256i max = _mm256_set1_epi32(row_max);
  const __m128i shift = _mm_cvtsi32_si128(sum_shift);
  __m256i sum = _mm256_setzero_si256();
  int32_t j = 0;
  for (; j + kLanes8 <= cols; j += kLanes8) {
    __m256i lost = _mm256_setzero_si256();
    const __m256i e = exp(center8<Exp::kChecked>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + j)), max, lost), lost);
    sum = add_clamped8(sum, _mm256_srl_epi32(e, shift));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(e_code + j), exp_code8(e, lost));
  }
  if (j < cols) {
    const __m256i mask = tail_mask8(cols - j);
    __m256i lost = _mm256_setzero_si256();
    const __m256i e = exp(center8<Exp::kChecked>(_mm256_maskload_epi32(x + j, mask), max, lost), lost);
    sum = add_clamped8(sum, _mm256_and_si256(_mm256_srl_epi32(e, shift), mask));
    _mm256_maskstore_epi32(e_code + j, mask, exp_code8(e, lost));
  }
  return reduce_clamped8(sum);
}

}  // namespace qvit::kernels::x86
