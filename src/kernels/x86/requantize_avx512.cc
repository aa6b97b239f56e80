// AVX-512 forms of kernels/reference/requantize.h: 16 lanes per step, the tail masked.
#include "kernels/x86/eltwise_kernels_x86.h"
#include "kernels/x86/eltwise_simd_avx512.h"

namespace qvit::kernels {

using namespace avx512;

namespace {

// Element i of `out`: the value, or its code (value - offset, one byte).
template <class Lanes>
void put(const RequantOut& out, int64_t i, __m512i v, Lanes lanes) {
  if (out.codes) store_codes(out.codes + i, _mm512_sub_epi32(v, splat(out.offset)), lanes);
  else store(out.values + i, v, lanes);
}

}  // namespace

int32_t requantize_avx512(const int32_t* in, RequantOut out, int32_t count, const RequantConsts& rq, ClampBounds range) {
  const RequantLanes r = broadcast(rq);
  const __m512i lo = splat(range.lo), hi = splat(range.hi);
  return for_each_vector(count, [&](int32_t i, auto lanes) {
    __mmask16 lost = 0;
    put(out, i, clamp(requant(load(in + i, lanes), r, lost), lo, hi), lanes);
    return lost;
  });
}

int32_t requantize_per_channel_avx512(const int32_t* in, RequantOut out, int32_t rows, int32_t channels,
                                      const RequantTable& rq, ClampBounds range) {
  const __m512i lo = splat(range.lo), hi = splat(range.hi);
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t* x = in + r * channels;
    const int64_t row = static_cast<int64_t>(r) * channels;
    events += for_each_vector(channels, [&](int32_t c, auto lanes) {
      __mmask16 lost = 0;
      put(out, row + c, clamp(requant(load(x + c, lanes), load(rq, c, lanes), lost), lo, hi), lanes);
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
