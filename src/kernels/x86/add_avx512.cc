// AVX-512 form of kernels/reference/add.h: both operands requantized, added, rounded once, clamped.
#include "kernels/x86/eltwise_kernels_x86.h"
#include "kernels/x86/eltwise_simd_avx512.h"

namespace qvit::kernels {

using namespace avx512;

int32_t add_avx512(const int32_t* a, const int32_t* b, int32_t count, int32_t* out, const AddConsts& k) {
  const RequantLanes rq_a = broadcast(k.a), rq_b = broadcast(k.b);
  const __m512i shift = splat(k.shift), lo = splat(k.range.lo), hi = splat(k.range.hi);
  return for_each_vector(count, [&](int32_t i, auto lanes) {
    __mmask16 lost = 0;
    const __m512i ya = requant(load(a + i, lanes), rq_a, lost);
    const __m512i yb = requant(load(b + i, lanes), rq_b, lost);
    const __m512i sum = sat_add(ya, yb, lost);
    store(out + i, clamp(rshift_round(sum, shift), lo, hi), lanes);
    return lost;
  });
}

}  // namespace qvit::kernels
