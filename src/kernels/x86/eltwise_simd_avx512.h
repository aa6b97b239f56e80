#pragma once
// Int32 lane arithmetic of the AVX-512 elementwise kernels: int_math.h's helpers on 16 lanes, with
// the same result in every lane and each `lost` flag as a lane mask OR-ed into an accumulator.
// Include only from *_avx512.cc files (compiled with -mavx512f/bw/vl/dq): everything here is static
// (internal linkage), so each ISA object keeps its own copy and shares no symbol with the rest.
// GCC 12.2's AVX-512 intrinsics pass `__m512i __Y = __Y` as the unused source of their masked forms,
// which -W(maybe-)uninitialized reports wherever they are inlined (GCC bug 105593, fixed in 12.3).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

#include <cstdint>

#include "kernels/x86/eltwise_kernels_x86.h"

namespace qvit::kernels::avx512 {

constexpr int32_t kLanes = 16;

// Σ of the 16 lanes with int32 wrap-around, in vector adds (GCC's _mm512_reduce_add_epi32 adds
// in C int, which is undefined behaviour on overflow; callers that can overflow check a bound).
static inline int32_t reduce_add_wrapping(__m512i v) {
  const __m256i a = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  __m128i b = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  b = _mm_add_epi32(b, _mm_shuffle_epi32(b, _MM_SHUFFLE(1, 0, 3, 2)));
  b = _mm_add_epi32(b, _mm_shuffle_epi32(b, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(b);
}
static inline __m512i splat(int32_t v) { return _mm512_set1_epi32(v); }
static inline __m512i zeros() { return _mm512_setzero_si512(); }
static inline __mmask16 sign_mask(__m512i v) { return _mm512_movepi32_mask(v); }

// A full vector of lanes, or the tail of an array (mask of lanes [0, n)). Loads of inactive lanes
// give 0; those lanes are never stored and their events never counted.
struct AllLanes {};
struct SomeLanes {
  __mmask16 mask;
};

static inline __m512i load(const int32_t* p, AllLanes) { return _mm512_loadu_si512(p); }
static inline __m512i load(const int32_t* p, SomeLanes l) { return _mm512_maskz_loadu_epi32(l.mask, p); }
static inline void store(int32_t* p, __m512i v, AllLanes) { _mm512_storeu_si512(p, v); }
static inline void store(int32_t* p, __m512i v, SomeLanes l) { _mm512_mask_storeu_epi32(p, l.mask, v); }
static inline __mmask16 active(__mmask16 m, AllLanes) { return m; }
static inline __mmask16 active(__mmask16 m, SomeLanes l) { return m & l.mask; }
// The low byte of every lane (values already in [0, 255]).
static inline void store_codes(uint8_t* p, __m512i v, AllLanes) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(v));
}
static inline void store_codes(uint8_t* p, __m512i v, SomeLanes l) { _mm512_mask_cvtepi32_storeu_epi8(p, l.mask, v); }
static inline __m512i active(__m512i v, AllLanes) { return v; }
static inline __m512i active(__m512i v, SomeLanes l) { return _mm512_maskz_mov_epi32(l.mask, v); }

// Calls step(i, lanes) for i = 0, 16, 32, ... below count, the last call with the tail's lanes.
// step returns the mask of truncation events; returns how many active lanes had one.
template <class Step>
static inline int32_t for_each_vector(int32_t count, Step step) {
  __m512i events = zeros();
  const __m512i one = splat(1);
  int32_t i = 0;
  for (; i <= count - kLanes; i += kLanes) events = _mm512_mask_add_epi32(events, step(i, AllLanes{}), events, one);
  if (i < count) {
    const SomeLanes tail{static_cast<__mmask16>((1u << (count - i)) - 1u)};
    events = _mm512_mask_add_epi32(events, step(i, tail) & tail.mask, events, one);
  }
  return reduce_add_wrapping(events);
}

// In lanes of mask, the saturated value of a result with the sign of `sign_of`: INT32_MAX for
// sign_of >= 0, INT32_MIN below.
static inline __m512i saturate_where(__mmask16 mask, __m512i value, __m512i sign_of) {
  const __m512i saturated = _mm512_xor_si512(_mm512_srai_epi32(sign_of, 31), splat(INT32_MAX));
  return _mm512_mask_mov_epi32(value, mask, saturated);
}

static inline __m512i sat_add(__m512i a, __m512i b, __mmask16& lost) {
  const __m512i r = _mm512_add_epi32(a, b);
  // Overflow iff a and b have the same sign and r the other one.
  const __mmask16 over = sign_mask(_mm512_and_si512(_mm512_xor_si512(a, r), _mm512_xor_si512(b, r)));
  lost |= over;
  return saturate_where(over, r, a);
}

static inline __m512i sat_sub(__m512i a, __m512i b, __mmask16& lost) {
  const __m512i r = _mm512_sub_epi32(a, b);
  const __mmask16 over = sign_mask(_mm512_and_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(a, r)));
  lost |= over;
  return saturate_where(over, r, a);
}

// The 64-bit products of the even and the odd lanes; the product fits int32 iff its high word is
// the sign extension of its low word.
static inline __m512i sat_mul(__m512i a, __m512i b, __mmask16& lost) {
  const __m512i even = _mm512_mul_epi32(a, b);
  const __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32));
  const __m512i lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  const __m512i hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  const __mmask16 over = _mm512_cmpneq_epi32_mask(hi, _mm512_srai_epi32(lo, 31));
  lost |= over;
  return saturate_where(over, lo, _mm512_xor_si512(a, b));
}

// rshift_round with per-lane shifts s >= 0, on the magnitude as the scalar form. vpsrlvd gives 0
// for counts >= 32, which is the scalar's shift >= 32 case (INT32_MIN >> 32 keeps its half bit:
// -1), and s - 1 = -1 for s = 0 is such a count, so shift 0 returns x.
static inline __m512i rshift_round(__m512i x, __m512i s) {
  const __m512i one = splat(1);
  const __m512i m = _mm512_abs_epi32(x);  // as uint32: |INT32_MIN| = 2^31
  const __m512i half = _mm512_and_si512(_mm512_srlv_epi32(m, _mm512_sub_epi32(s, one)), one);
  const __m512i r = _mm512_add_epi32(_mm512_srlv_epi32(m, s), half);
  return _mm512_mask_sub_epi32(r, sign_mask(x), zeros(), r);
}

// int_math.h requant: lost when the product saturated. Shifts >= 0.
struct RequantLanes {
  __m512i pre_shift, m0, post_shift, short_limit;
  bool short_form;  // RequantConsts::short_limit holds for every lane
};
static inline RequantLanes broadcast(const RequantConsts& rq) {
  return {splat(rq.pre_shift), splat(rq.m0), splat(rq.post_shift), splat(rq.short_limit), rq.short_limit >= 0};
}
template <class Lanes>
static inline RequantLanes load(const RequantTable& rq, int32_t channel, Lanes lanes) {
  return {load(rq.pre_shift + channel, lanes), load(rq.m0 + channel, lanes), load(rq.post_shift + channel, lanes),
          rq.short_limit ? load(rq.short_limit + channel, lanes) : zeros(), rq.short_limit != nullptr};
}
// (m + 2^(s-1)) >> s on magnitudes m <= 2^31 with s in [0, 31] (2^(s-1) read as 0 for s = 0): the
// sum stays below 2^32, and adding the half before the floor is rshift_round's "+ bit s-1".
static inline __m512i round_magnitude(__m512i m, __m512i s) {
  const __m512i half = _mm512_srli_epi32(_mm512_sllv_epi32(splat(1), s), 1);
  return _mm512_srlv_epi32(_mm512_add_epi32(m, half), s);
}
static inline __m512i requant(__m512i x, const RequantLanes& rq, __mmask16& lost) {
  if (rq.short_form) {
    // The short form (RequantConsts): no lane saturates, so nothing is lost.
    const __m512i t = round_magnitude(_mm512_abs_epi32(x), rq.pre_shift);
    if (_mm512_cmpgt_epu32_mask(t, rq.short_limit) == 0) {
      const __m512i q = round_magnitude(_mm512_mullo_epi32(t, rq.m0), rq.post_shift);
      return _mm512_mask_sub_epi32(q, sign_mask(x), zeros(), q);
    }
  }
  return rshift_round(sat_mul(rshift_round(x, rq.pre_shift), rq.m0, lost), rq.post_shift);
}

static inline __m512i clamp(__m512i x, __m512i lo, __m512i hi) { return _mm512_min_epi32(_mm512_max_epi32(x, lo), hi); }

}  // namespace qvit::kernels::avx512
