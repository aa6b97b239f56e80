// AVX2 form of kernels/reference/shiftgelu.h, 8 lanes per step. Per element one of the two
// shift-exps of the reference is e^0 (its exponent y - m or -m is 0), the same for every element:
// the caller passes it (k.exp_zero), so each lane computes only the shift-exp of -|y|.
#include "kernels/x86/eltwise_kernels_x86.h"
#include "kernels/x86/eltwise_simd_avx2.h"

namespace qvit::kernels {

using namespace avx2;

namespace {

struct ShiftExpLanes {
  __m256i i0, i0_plus_1, n, floor_ip;
  __m256 inv_i0;
};

// Below this |x| no addition before the exponential's shift can saturate: |1.6875 x| < 2^29 and,
// for v = -|y| > -2^29, v + (v >> 1) > -2^31. Most vectors take that path (no overflow checks).
constexpr int32_t kSmallInput = 1 << 28;

template <bool kMaySaturate>
inline __m256i add(__m256i a, __m256i b, __m256i& lost) {
  if constexpr (kMaySaturate) return sat_add(a, b, lost);
  return _mm256_add_epi32(a, b);
}

template <bool kMaySaturate>
inline __m256i sub(__m256i a, __m256i b, __m256i& lost) {
  if constexpr (kMaySaturate) return sat_sub(a, b, lost);
  return _mm256_sub_epi32(a, b);
}

// shift_exp(v) of exp_approx.h for lanes v <= 0.
template <bool kMaySaturate>
inline __m256i shift_exp(__m256i v, const ShiftExpLanes& k, __m256i& lost) {
  const __m256i a = add<kMaySaturate>(v, _mm256_srai_epi32(v, 1), lost);
  const __m256i ip = sub<kMaySaturate>(a, _mm256_srai_epi32(v, 4), lost);
  const __m256i clipped = _mm256_max_epi32(ip, k.floor_ip);
  // q = clipped / i0 in [0, n]: the float quotient is within 1e-5 of it (q <= 30, three roundings
  // of 2^-24), so its truncation is off by at most one, which the remainder r = clipped - q i0,
  // required in (i0, 0], corrects.
  __m256i q = _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(clipped), k.inv_i0));
  q = _mm256_min_epi32(_mm256_max_epi32(q, zeros()), k.n);
  __m256i r = _mm256_sub_epi32(clipped, _mm256_mullo_epi32(q, k.i0));
  const __m256i q_too_big = _mm256_cmpgt_epi32(r, zeros());  // all ones: q -= 1, r += i0
  q = _mm256_add_epi32(q, q_too_big);
  r = _mm256_add_epi32(r, _mm256_and_si256(q_too_big, k.i0));
  const __m256i q_too_small = _mm256_cmpgt_epi32(k.i0_plus_1, r);  // r <= i0: q += 1, r -= i0
  q = _mm256_sub_epi32(q, q_too_small);
  r = _mm256_sub_epi32(r, _mm256_and_si256(q_too_small, k.i0));
  // sat_shl of base = (r >> 1) - i0 >= 1 by n - q in [0, n]: lost iff base > INT32_MAX >> shift.
  const __m256i base = _mm256_sub_epi32(_mm256_srai_epi32(r, 1), k.i0);
  const __m256i shift = _mm256_sub_epi32(k.n, q);
  const __m256i over = _mm256_cmpgt_epi32(base, _mm256_srlv_epi32(splat(INT32_MAX), shift));
  lost = or_(lost, over);
  return _mm256_blendv_epi8(_mm256_sllv_epi32(base, shift), splat(INT32_MAX), over);
}

// floor(INT32_MAX / den) for den in [1, 2^16) (each term is < 2^15 after the sum shift).
// den >= 2^9 (every den when exp_zero >= 2^9, as lowered): the float quotient of 2^31 (INT32_MAX
// rounded) errs by < 1/den + 2^22 2^-24 < 1, so its truncation is off by at most one, and the
// remainder INT32_MAX - q den, in [-den, 2 den) (exact in wrap-around int32), corrects it.
// Smaller den, in double: exact, the quotient erring by < 2^31 2^-53 / den while a non-integer
// quotient is >= 1/den from the next integer.
__m256i int32_max_over(__m256i den, bool den_at_least_512) {
  if (den_at_least_512) {
    __m256i q = _mm256_cvttps_epi32(_mm256_div_ps(_mm256_set1_ps(2147483648.0f), _mm256_cvtepi32_ps(den)));
    const __m256i r = _mm256_sub_epi32(splat(INT32_MAX), _mm256_mullo_epi32(q, den));
    q = _mm256_add_epi32(q, _mm256_cmpgt_epi32(zeros(), r));                         // r < 0: q - 1
    return _mm256_sub_epi32(q, _mm256_cmpgt_epi32(r, _mm256_sub_epi32(den, splat(1))));  // r >= den: q + 1
  }
  const __m256d num = _mm256_set1_pd(2147483647.0);
  const __m128i lo = _mm256_cvttpd_epi32(_mm256_div_pd(num, _mm256_cvtepi32_pd(_mm256_castsi256_si128(den))));
  const __m128i hi = _mm256_cvttpd_epi32(_mm256_div_pd(num, _mm256_cvtepi32_pd(_mm256_extracti128_si256(den, 1))));
  return _mm256_set_m128i(hi, lo);
}

// The constants of one call, in lanes.
struct GeluLanes {
  ShiftExpLanes exp;
  __m128i sum_shift, sigmoid_shift;
  __m256i exp_zero;
  bool den_at_least_512;  // e1 + e2 >= exp_zero >= 2^9
};

template <bool kMaySaturate>
inline __m256i shiftgelu_lanes(__m256i x, const GeluLanes& k, __m256i& lost) {
  __m256i y = add<kMaySaturate>(x, _mm256_srai_epi32(x, 1), lost);  // 1.6875 x
  y = add<kMaySaturate>(y, _mm256_srai_epi32(x, 3), lost);
  y = add<kMaySaturate>(y, _mm256_srai_epi32(x, 4), lost);
  // m = max(y, 0): the non-zero exponent is -|y| (min(y, -y), also for INT32_MIN).
  const __m256i neg_abs = _mm256_min_epi32(y, _mm256_sub_epi32(zeros(), y));
  // rshift_floor of a value >= 1: vpsrad fills with 0 for shifts >= 31 as the scalar form.
  const __m256i exp_y = _mm256_sra_epi32(shift_exp<kMaySaturate>(neg_abs, k.exp, lost), k.sum_shift);
  const __m256i positive = _mm256_cmpgt_epi32(y, zeros());
  const __m256i e1 = _mm256_blendv_epi8(exp_y, k.exp_zero, positive);
  const __m256i e2 = _mm256_blendv_epi8(k.exp_zero, exp_y, positive);
  const __m256i factor = int32_max_over(_mm256_add_epi32(e1, e2), k.den_at_least_512);
  const __m256i sig = _mm256_sra_epi32(_mm256_mullo_epi32(e1, factor), k.sigmoid_shift);  // e1 factor <= INT32_MAX
  return sat_mul(x, sig, lost);
}

}  // namespace

int32_t shiftgelu_avx2(const int32_t* in, int32_t* out, int32_t count, const ShiftGeluConsts& k) {
  const GeluLanes g{{splat(k.i0), splat(k.i0 + 1), splat(k.n), splat(k.n * k.i0), _mm256_set1_ps(1.0f / static_cast<float>(k.i0))},
                    _mm_cvtsi32_si128(k.sum_shift),
                    _mm_cvtsi32_si128(k.sigmoid_shift),
                    splat(k.exp_zero),
                    k.exp_zero >= 512};
  const __m256i lost_always = k.exp_zero_lost ? splat(-1) : zeros();
  return for_each_vector(count, [&](int32_t i, auto lanes) {
    __m256i lost = lost_always;
    const __m256i x = load(in + i, lanes);
    const bool small = _mm256_testz_si256(_mm256_abs_epi32(x), splat(-kSmallInput));  // every |x| < 2^28
    store(out + i, small ? shiftgelu_lanes<false>(x, g, lost) : shiftgelu_lanes<true>(x, g, lost), lanes);
    return lost;
  });
}

}  // namespace qvit::kernels
