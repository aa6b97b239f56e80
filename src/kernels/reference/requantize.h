#pragma once
// Requantization: int32 values (accumulators, or activations at another scale) to b-bit
// activations, out = clamp(requant(x, rq), lo, hi) with requant() from int_math.h.
//
// Activation convention of the integer runtime: activations are CENTERED integers v = q - z (the
// zero point is already subtracted), stored in int32. A b-bit activation with zero point z then
// has clamp bounds lo = -z, hi = 2^b - 1 - z; a symmetric one has z = 2^(b-1) i.e.
// [-2^(b-1), 2^(b-1) - 1]. Asymmetric and symmetric activations are one code path, and consumers
// (matmul, add, LayerNorm) never see zero points. centered_range() gives the bounds.
#include <cstdint>

#include "kernels/int_math.h"
#include "kernels/truncation.h"

namespace qvit::kernels::ref {

struct ClampRange {
  int32_t lo = kInt32Min;
  int32_t hi = kInt32Max;
};

// [-z, 2^bits - 1 - z] for an unsigned b-bit code with zero point z (bits in [1, 30]).
constexpr ClampRange centered_range(int32_t bits, int32_t zero_point) {
  return {-zero_point, (static_cast<int32_t>(1) << bits) - 1 - zero_point};
}

// One multiplier for the whole tensor.
void requantize(const int32_t* in, int32_t* out, int32_t count, const Requant& rq, ClampRange range,
                TruncationStats* stats);

// One multiplier per channel, channel = last axis: in/out [rows, channels], rq [channels].
void requantize_per_channel(const int32_t* in, int32_t* out, int32_t rows, int32_t channels, const Requant* rq,
                            ClampRange range, TruncationStats* stats);

// out = max(lo, min(in, hi)): ReLU (lo 0) and Clip on codes, no rescaling.
void clamp_codes(const int32_t* in, int32_t* out, int32_t count, ClampRange range);

// out[i] = in[i] · c[i mod c_count], saturated to int32 (each saturation counted).
void mul_const(const int32_t* in, int32_t count, const int32_t* c, int32_t c_count, int32_t* out, TruncationStats* stats);

}  // namespace qvit::kernels::ref
