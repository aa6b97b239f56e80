#pragma once
// Int32 lane arithmetic of the AVX2 elementwise kernels: int_math.h's helpers on 8 lanes, with
// the same result in every lane and each `lost` flag as a lane mask (all ones) OR-ed into an
// accumulator. Include only from *_avx2.cc files (compiled with -mavx2): everything here is static
// (internal linkage), so each ISA object keeps its own copy and shares no symbol with the rest.
#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/eltwise_kernels_x86.h"

namespace qvit::kernels::avx2 {

constexpr int32_t kLanes = 8;

static inline __m256i splat(int32_t v) { return _mm256_set1_epi32(v); }
static inline __m256i zeros() { return _mm256_setzero_si256(); }
static inline __m256i or_(__m256i a, __m256i b) { return _mm256_or_si256(a, b); }

// A full vector of lanes, or the tail of an array (lanes [0, n) of mask). Loads of inactive lanes
// give 0; those lanes are never stored and their events never counted.
struct AllLanes {};
struct SomeLanes {
  __m256i mask;
};

static inline __m256i load(const int32_t* p, AllLanes) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
static inline __m256i load(const int32_t* p, SomeLanes l) { return _mm256_maskload_epi32(p, l.mask); }
static inline void store(int32_t* p, __m256i v, AllLanes) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
static inline void store(int32_t* p, __m256i v, SomeLanes l) { _mm256_maskstore_epi32(p, l.mask, v); }
// The low byte of every lane (values already in [0, 255]).
static inline void store_codes(uint8_t* p, __m256i v, AllLanes) {
  const __m256i low_bytes = _mm256_shuffle_epi8(
      v, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                          0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
  const uint32_t first = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm256_castsi256_si128(low_bytes)));
  const uint32_t second = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm256_extracti128_si256(low_bytes, 1)));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_cvtsi64_si128(static_cast<int64_t>(first | uint64_t{second} << 32)));
}
static inline void store_codes(uint8_t* p, __m256i v, SomeLanes l) {  // the tail's lanes are a prefix
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), v);
  const int active = __builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(l.mask))));
  for (int k = 0; k < active; ++k) p[k] = static_cast<uint8_t>(lanes[k]);
}
static inline __m256i active(__m256i v, AllLanes) { return v; }
static inline __m256i active(__m256i v, SomeLanes l) { return _mm256_and_si256(v, l.mask); }

static inline int32_t sum_lanes(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// Calls step(i, lanes) for i = 0, 8, 16, ... below count, the last call with the tail's lanes.
// step returns the lane mask of truncation events; returns how many active lanes had one.
template <class Step>
static inline int32_t for_each_vector(int32_t count, Step step) {
  __m256i events = zeros();
  int32_t i = 0;
  for (; i <= count - kLanes; i += kLanes) events = _mm256_sub_epi32(events, step(i, AllLanes{}));
  if (i < count) {
    const SomeLanes tail{_mm256_cmpgt_epi32(splat(count - i), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))};
    events = _mm256_sub_epi32(events, active(step(i, tail), tail));
  }
  return sum_lanes(events);
}

// Where mask is set, the saturated value of a result with the sign of `sign_of`: INT32_MAX for
// sign_of >= 0, INT32_MIN below.
static inline __m256i saturate_where(__m256i mask, __m256i value, __m256i sign_of) {
  const __m256i saturated = _mm256_xor_si256(_mm256_srai_epi32(sign_of, 31), splat(INT32_MAX));
  return _mm256_blendv_epi8(value, saturated, mask);
}

static inline __m256i sat_add(__m256i a, __m256i b, __m256i& lost) {
  const __m256i r = _mm256_add_epi32(a, b);
  // Overflow iff a and b have the same sign and r the other one.
  const __m256i over = _mm256_srai_epi32(_mm256_and_si256(_mm256_xor_si256(a, r), _mm256_xor_si256(b, r)), 31);
  lost = or_(lost, over);
  return saturate_where(over, r, a);
}

static inline __m256i sat_sub(__m256i a, __m256i b, __m256i& lost) {
  const __m256i r = _mm256_sub_epi32(a, b);
  const __m256i over = _mm256_srai_epi32(_mm256_and_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(a, r)), 31);
  lost = or_(lost, over);
  return saturate_where(over, r, a);
}

// The 64-bit products of the even and the odd lanes; the product fits int32 iff its high word is
// the sign extension of its low word.
static inline __m256i sat_mul(__m256i a, __m256i b, __m256i& lost) {
  const __m256i even = _mm256_mul_epi32(a, b);
  const __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32));
  const __m256i lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  const __m256i hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  const __m256i fits = _mm256_cmpeq_epi32(hi, _mm256_srai_epi32(lo, 31));
  const __m256i over = _mm256_xor_si256(fits, splat(-1));
  lost = or_(lost, over);
  return saturate_where(over, lo, _mm256_xor_si256(a, b));
}

// rshift_round with per-lane shifts s >= 0, on the magnitude as the scalar form. vpsrlvd gives 0
// for counts >= 32, which is the scalar's shift >= 32 case (INT32_MIN >> 32 keeps its half bit:
// -1), and s - 1 = -1 for s = 0 is such a count, so shift 0 returns x.
static inline __m256i rshift_round(__m256i x, __m256i s) {
  const __m256i one = splat(1);
  const __m256i m = _mm256_abs_epi32(x);  // as uint32: |INT32_MIN| = 2^31
  const __m256i half = _mm256_and_si256(_mm256_srlv_epi32(m, _mm256_sub_epi32(s, one)), one);
  return _mm256_sign_epi32(_mm256_add_epi32(_mm256_srlv_epi32(m, s), half), x);
}

// int_math.h requant: lost when the product saturated. Shifts >= 0.
struct RequantLanes {
  __m256i pre_shift, m0, post_shift, short_limit;
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
static inline __m256i round_magnitude(__m256i m, __m256i s) {
  const __m256i half = _mm256_srli_epi32(_mm256_sllv_epi32(splat(1), s), 1);
  return _mm256_srlv_epi32(_mm256_add_epi32(m, half), s);
}
static inline __m256i requant(__m256i x, const RequantLanes& rq, __m256i& lost) {
  if (rq.short_form) {
    // The short form (RequantConsts): no lane saturates, so nothing is lost. t > limit as uint32:
    // min(t, limit) != t.
    const __m256i t = round_magnitude(_mm256_abs_epi32(x), rq.pre_shift);
    const __m256i beyond = _mm256_xor_si256(_mm256_min_epu32(t, rq.short_limit), t);
    if (_mm256_testz_si256(beyond, beyond)) {
      const __m256i q = round_magnitude(_mm256_mullo_epi32(t, rq.m0), rq.post_shift);
      return _mm256_sign_epi32(q, x);
    }
  }
  return rshift_round(sat_mul(rshift_round(x, rq.pre_shift), rq.m0, lost), rq.post_shift);
}

static inline __m256i clamp(__m256i x, __m256i lo, __m256i hi) { return _mm256_min_epi32(_mm256_max_epi32(x, lo), hi); }

}  // namespace qvit::kernels::avx2
