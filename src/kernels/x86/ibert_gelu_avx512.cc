// AVX-512 form of kernels/reference/ibert.h's GELU: out = q * (i-erf(q) + one_k), 16 lanes per step.
#include "kernels/x86/eltwise_kernels_x86.h"
#include "kernels/x86/eltwise_simd_avx512.h"

namespace qvit::kernels {

using namespace avx512;

int32_t ibert_gelu_avx512(const int32_t* in, int32_t* out, int32_t count, const IBertGeluConsts& k) {
  const __m512i clip = splat(k.clip), one = splat(k.one), shift = splat(k.shift), one_shifted = splat(k.one_shifted);
  return for_each_vector(count, [&](int32_t i, auto lanes) {
    __mmask16 lost = 0;
    const __m512i q = load(in + i, lanes);
    // i-erf: t = min(|q|, clip) - clip in [-clip, 0] (|q| as uint32, clip >= 1).
    const __m512i t = _mm512_sub_epi32(_mm512_min_epu32(_mm512_abs_epi32(q), clip), clip);
    const __m512i square = sat_mul(t, t, lost);
    // one >= 0 and square in [0, INT32_MAX]: the reference's sat_sub(one, square) never saturates.
    const __m512i poly = rshift_round(_mm512_sub_epi32(one, square), shift);
    // sgn(q) * poly: negated for q < 0, 0 for q = 0.
    const __m512i erf = _mm512_maskz_mov_epi32(_mm512_test_epi32_mask(q, q),
                                               _mm512_mask_sub_epi32(poly, sign_mask(q), zeros(), poly));
    const __m512i one_plus_erf = sat_add(erf, one_shifted, lost);
    store(out + i, sat_mul(q, one_plus_erf, lost), lanes);
    return lost;
  });
}

}  // namespace qvit::kernels
