// AVX2 form of kernels/reference/ibert.h's GELU: out = q * (i-erf(q) + one_k), 8 lanes per step.
#include "kernels/x86/eltwise_kernels_x86.h"
#include "kernels/x86/eltwise_simd_avx2.h"

namespace qvit::kernels {

using namespace avx2;

int32_t ibert_gelu_avx2(const int32_t* in, int32_t* out, int32_t count, const IBertGeluConsts& k) {
  const __m256i clip = splat(k.clip), one = splat(k.one), shift = splat(k.shift), one_shifted = splat(k.one_shifted);
  return for_each_vector(count, [&](int32_t i, auto lanes) {
    __m256i lost = zeros();
    const __m256i q = load(in + i, lanes);
    // i-erf: t = min(|q|, clip) - clip in [-clip, 0] (|q| as uint32, clip >= 1).
    const __m256i t = _mm256_sub_epi32(_mm256_min_epu32(_mm256_abs_epi32(q), clip), clip);
    const __m256i square = sat_mul(t, t, lost);
    // one >= 0 and square in [0, INT32_MAX]: the reference's sat_sub(one, square) never saturates.
    const __m256i poly = _mm256_sub_epi32(one, square);
    const __m256i erf = _mm256_sign_epi32(rshift_round(poly, shift), q);
    const __m256i one_plus_erf = sat_add(erf, one_shifted, lost);
    store(out + i, sat_mul(q, one_plus_erf, lost), lanes);
    return lost;
  });
}

}  // namespace qvit::kernels
