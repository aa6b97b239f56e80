// AVX-512 passes of kernels/reference/ilayernorm.h over one row, 16 channels per step (the caller,
// kernels/eltwise_kernels.cc, does the per-row scalar work between them).
#include "kernels/x86/eltwise_kernels_x86.h"
#include "kernels/x86/eltwise_simd_avx512.h"

namespace qvit::kernels {

using namespace avx512;

namespace {

// div_round(num, den) of a row's den in [1, 46340] (an isqrt of an int32), in double: the quotient
// errs by < 2^31 2^-53 = 2^-22, a non-tie is >= 1/(2 den) > 2^-17 from the nearest half and a tie
// (k + 1/2) is exact, so adding 1/2 away from zero (exact) and truncating rounds as the integers do.
__m256i div_round(__m256i num, __m512d den) {
  const __m512d q = _mm512_div_pd(_mm512_cvtepi32_pd(num), den);
  const __m512d half = _mm512_or_pd(_mm512_and_pd(q, _mm512_set1_pd(-0.0)), _mm512_set1_pd(0.5));
  return _mm512_cvttpd_epi32(_mm512_add_pd(q, half));
}

__m512i div_round(__m512i num, __m512d den) {
  const __m256i lo = div_round(_mm512_castsi512_si256(num), den);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), div_round(_mm512_extracti64x4_epi64(num, 1), den), 1);
}

}  // namespace

void ilayernorm_row_sum_avx512(const int32_t* x, int32_t channels, int32_t* sum, uint32_t* max_magnitude) {
  __m512i sums = zeros(), magnitudes = zeros();
  for_each_vector(channels, [&](int32_t c, auto lanes) {
    const __m512i v = load(x + c, lanes);  // inactive lanes are 0: neutral for both
    sums = _mm512_add_epi32(sums, v);
    magnitudes = _mm512_max_epu32(magnitudes, _mm512_abs_epi32(v));
    return __mmask16{0};
  });
  *sum = reduce_add_wrapping(sums);  // wraps; the caller checks channels · max|x| first
  *max_magnitude = _mm512_reduce_max_epu32(magnitudes);
}

int32_t ilayernorm_row_variance_avx512(const int32_t* x, const ILayerNormConsts& k, int32_t mean, bool* lost) {
  const __m512i frac = splat(k.frac), mean_lanes = splat(mean), var_shift = splat(k.var_shift > 0 ? k.var_shift : 0);
  // The sum of squares, each saturated, in 64-bit lanes: the reference's saturating int32 sum of
  // non-negative terms is min(INT32_MAX, exact sum), lost iff the exact sum passes INT32_MAX.
  __m512i sums_even = zeros(), sums_odd = zeros();
  const int32_t lost_squares = for_each_vector(k.channels, [&](int32_t c, auto lanes) {
    const __m512i d = _mm512_sub_epi32(_mm512_sllv_epi32(load(x + c, lanes), frac), mean_lanes);
    const __m512i dt = k.var_shift > 0 ? rshift_round(d, var_shift) : d;
    // sat_mul(dt, dt): the square fits int32 iff |dt| <= 46340 (|dt| as uint32).
    const __mmask16 square_lost = _mm512_cmpgt_epu32_mask(_mm512_abs_epi32(dt), splat(46340));
    const __m512i square = active(_mm512_mask_mov_epi32(_mm512_mullo_epi32(dt, dt), square_lost, splat(INT32_MAX)), lanes);
    sums_even = _mm512_add_epi64(sums_even, _mm512_unpacklo_epi32(square, zeros()));
    sums_odd = _mm512_add_epi64(sums_odd, _mm512_unpackhi_epi32(square, zeros()));
    return square_lost;
  });
  const int64_t total = k.var_eps + _mm512_reduce_add_epi64(_mm512_add_epi64(sums_even, sums_odd));
  *lost = lost_squares > 0 || total > INT32_MAX;
  return total > INT32_MAX ? INT32_MAX : static_cast<int32_t>(total);
}

int32_t ilayernorm_row_normalize_avx512(const int32_t* x, int32_t* out, const ILayerNormConsts& k, int32_t mean,
                                        int32_t std_int, bool row_lost) {
  const __m512i frac = splat(k.frac), mean_lanes = splat(mean), shift_m = splat(k.shift_m);
  const __m512i num_max = splat(INT32_MAX >> k.shift_m), num_min = splat(INT32_MIN >> k.shift_m);
  const __m512i lo = splat(k.range.lo), hi = splat(k.range.hi);
  const __mmask16 lost_always = row_lost ? 0xFFFF : 0;
  const __m512d den = _mm512_set1_pd(static_cast<double>(std_int));
  const bool short_affine = k.affine_limit >= 0;
  const __m512i affine_limit = splat(k.affine_limit);
  return for_each_vector(k.channels, [&](int32_t c, auto lanes) {
    __mmask16 lost = lost_always;
    // d cannot saturate on a row the caller passes (see eltwise_kernels.cc).
    const __m512i d = _mm512_sub_epi32(_mm512_sllv_epi32(load(x + c, lanes), frac), mean_lanes);
    const __mmask16 num_over = _mm512_cmpgt_epi32_mask(d, num_max) | _mm512_cmpgt_epi32_mask(num_min, d);
    lost |= num_over;
    const __m512i num = saturate_where(num_over, _mm512_sllv_epi32(d, shift_m), d);
    const __m512i norm = div_round(num, den);
    lost |= _mm512_test_epi32_mask(num, num) & _mm512_testn_epi32_mask(norm, norm);
    const __m512i gamma = load(k.gamma + c, lanes), beta = load(k.beta + c, lanes);
    __m512i affine;
    if (short_affine && _mm512_cmpgt_epu32_mask(_mm512_abs_epi32(norm), affine_limit) == 0)
      affine = _mm512_add_epi32(_mm512_mullo_epi32(norm, gamma), beta);  // fits: ILayerNormConsts::affine_limit
    else
      affine = sat_add(sat_mul(norm, gamma, lost), beta, lost);
    store(out + c, clamp(requant(affine, load(k.rq, c, lanes), lost), lo, hi), lanes);
    return lost;
  });
}

}  // namespace qvit::kernels
