// AVX-512 forms of kernels/reference/requantize.h: 16 lanes per step, the tail masked.
#include "kernels/x86/eltwise_kernels_x86.h"
#include "kernels/x86/eltwise_simd_avx512.h"

namespace qvit::kernels {

using namespace avx512;

int32_t requantize_avx512(const int32_t* in, int32_t* out, int32_t count, const RequantConsts& rq, ClampBounds range) {
  const RequantLanes r = broadcast(rq);
  const __m512i lo = splat(range.lo), hi = splat(range.hi);
  return for_each_vector(count, [&](int32_t i, auto lanes) {
    __mmask16 lost = 0;
    store(out + i, clamp(requant(load(in + i, lanes), r, lost), lo, hi), lanes);
    return lost;
  });
}

int32_t requantize_per_channel_avx512(const int32_t* in, int32_t* out, int32_t rows, int32_t channels,
                                      const RequantTable& rq, ClampBounds range) {
  const __m512i lo = splat(range.lo), hi = splat(range.hi);
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t* x = in + r * channels;
    int32_t* y = out + r * channels;
    events += for_each_vector(channels, [&](int32_t c, auto lanes) {
      __mmask16 lost = 0;
      store(y + c, clamp(requant(load(x + c, lanes), load(rq, c, lanes), lost), lo, hi), lanes);
      return lost;
    });
  }
  return events;
}

void clamp_codes_avx512(const int32_t* in, int32_t* out, int32_t count, ClampBounds range) {
  const __m512i lo = splat(range.lo), hi = splat(range.hi);
  for_each_vector(count, [&](int32_t i, auto lanes) {
    store(out + i, clamp(load(in + i, lanes), lo, hi), lanes);
    return __mmask16{0};
  });
}

int32_t mul_const_avx512(const int32_t* in, const int32_t* c, int32_t count, int32_t* out) {
  return for_each_vector(count, [&](int32_t i, auto lanes) {
    __mmask16 lost = 0;
    store(out + i, sat_mul(load(in + i, lanes), load(c + i, lanes), lost), lanes);
    return lost;
  });
}

}  // namespace qvit::kernels
