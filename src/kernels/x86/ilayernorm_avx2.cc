// AVX2 passes of kernels/reference/ilayernorm.h over one row, 8 channels per step (the caller,
// kernels/eltwise_kernels.cc, does the per-row scalar work between them).
#include "kernels/x86/eltwise_kernels_x86.h"
#include "kernels/x86/eltwise_simd_avx2.h"

namespace qvit::kernels {

using namespace avx2;

namespace {

// div_round(num, den) of a row's den in [1, 46340] (an isqrt of an int32), in double: the quotient
// errs by < 2^31 2^-53 = 2^-22, a non-tie is >= 1/(2 den) > 2^-17 from the nearest half and a tie
// (k + 1/2) is exact, so adding 1/2 away from zero (exact) and truncating rounds as the integers do.
__m128i div_round(__m128i num, __m256d den) {
  const __m256d q = _mm256_div_pd(_mm256_cvtepi32_pd(num), den);
  const __m256d half = _mm256_or_pd(_mm256_and_pd(q, _mm256_set1_pd(-0.0)), _mm256_set1_pd(0.5));
  return _mm256_cvttpd_epi32(_mm256_add_pd(q, half));
}

__m256i div_round(__m256i num, __m256d den) {
  return _mm256_set_m128i(div_round(_mm256_extracti128_si256(num, 1), den), div_round(_mm256_castsi256_si128(num), den));
}

}  // namespace

void ilayernorm_row_sum_avx2(const int32_t* x, int32_t channels, int32_t* sum, uint32_t* max_magnitude) {
  __m256i sums = zeros(), magnitudes = zeros();
  for_each_vector(channels, [&](int32_t c, auto lanes) {
    const __m256i v = load(x + c, lanes);  // inactive lanes are 0: neutral for both
    sums = _mm256_add_epi32(sums, v);
    magnitudes = _mm256_max_epu32(magnitudes, _mm256_abs_epi32(v));
    return zeros();
  });
  __m128i m = _mm_max_epu32(_mm256_castsi256_si128(magnitudes), _mm256_extracti128_si256(magnitudes, 1));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
  *sum = sum_lanes(sums);
  *max_magnitude = static_cast<uint32_t>(_mm_cvtsi128_si32(m));
}

int32_t ilayernorm_row_variance_avx2(const int32_t* x, const ILayerNormConsts& k, int32_t mean, bool* lost) {
  const __m256i frac = splat(k.frac), mean_lanes = splat(mean), var_shift = splat(k.var_shift > 0 ? k.var_shift : 0);
  // The sum of squares, each saturated, in 64-bit lanes: the reference's saturating int32 sum of
  // non-negative terms is min(INT32_MAX, exact sum), lost iff the exact sum passes INT32_MAX.
  __m256i sums_even = zeros(), sums_odd = zeros();
  const int32_t lost_squares = for_each_vector(k.channels, [&](int32_t c, auto lanes) {
    const __m256i d = _mm256_sub_epi32(_mm256_sllv_epi32(load(x + c, lanes), frac), mean_lanes);
    const __m256i dt = k.var_shift > 0 ? rshift_round(d, var_shift) : d;
    // sat_mul(dt, dt): the square fits int32 iff |dt| <= 46340 (|dt| as uint32).
    const __m256i magnitude = _mm256_abs_epi32(dt);
    const __m256i square_lost = _mm256_cmpeq_epi32(_mm256_max_epu32(magnitude, splat(46341)), magnitude);
    const __m256i square = active(_mm256_blendv_epi8(_mm256_mullo_epi32(dt, dt), splat(INT32_MAX), square_lost), lanes);
    sums_even = _mm256_add_epi64(sums_even, _mm256_unpacklo_epi32(square, zeros()));
    sums_odd = _mm256_add_epi64(sums_odd, _mm256_unpackhi_epi32(square, zeros()));
    return square_lost;
  });
  const __m256i s = _mm256_add_epi64(sums_even, sums_odd);
  const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  const int64_t total = k.var_eps + _mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1);
  *lost = lost_squares > 0 || total > INT32_MAX;
  return total > INT32_MAX ? INT32_MAX : static_cast<int32_t>(total);
}

int32_t ilayernorm_row_normalize_avx2(const int32_t* x, int32_t* out, const ILayerNormConsts& k, int32_t mean,
                                      int32_t std_int, bool row_lost) {
  const __m256i frac = splat(k.frac), mean_lanes = splat(mean), shift_m = splat(k.shift_m);
  const __m256i num_max = splat(INT32_MAX >> k.shift_m), num_min = splat(INT32_MIN >> k.shift_m);
  const __m256i lo = splat(k.range.lo), hi = splat(k.range.hi), lost_always = row_lost ? splat(-1) : zeros();
  const __m256d den = _mm256_set1_pd(static_cast<double>(std_int));
  const bool short_affine = k.affine_limit >= 0;
  const __m256i affine_limit = splat(k.affine_limit);
  return for_each_vector(k.channels, [&](int32_t c, auto lanes) {
    __m256i lost = lost_always;
    // d cannot saturate on a row the caller passes (see eltwise_kernels.cc).
    const __m256i d = _mm256_sub_epi32(_mm256_sllv_epi32(load(x + c, lanes), frac), mean_lanes);
    const __m256i num_over = or_(_mm256_cmpgt_epi32(d, num_max), _mm256_cmpgt_epi32(num_min, d));
    lost = or_(lost, num_over);
    const __m256i num = saturate_where(num_over, _mm256_sllv_epi32(d, shift_m), d);
    const __m256i norm = div_round(num, den);
    const __m256i norm_lost = _mm256_andnot_si256(_mm256_cmpeq_epi32(num, zeros()), _mm256_cmpeq_epi32(norm, zeros()));
    lost = or_(lost, norm_lost);
    const __m256i gamma = load(k.gamma + c, lanes), beta = load(k.beta + c, lanes);
    __m256i affine;
    // |norm| <= limit as uint32: min(|norm|, limit) == |norm| in every lane.
    const __m256i magnitude = _mm256_abs_epi32(norm);
    const __m256i beyond = _mm256_xor_si256(_mm256_min_epu32(magnitude, affine_limit), magnitude);
    if (short_affine && _mm256_testz_si256(beyond, beyond))
      affine = _mm256_add_epi32(_mm256_mullo_epi32(norm, gamma), beta);  // fits: ILayerNormConsts::affine_limit
    else
      affine = sat_add(sat_mul(norm, gamma, lost), beta, lost);
    store(out + c, clamp(requant(affine, load(k.rq, c, lanes), lost), lo, hi), lanes);
    return lost;
  });
}

}  // namespace qvit::kernels
