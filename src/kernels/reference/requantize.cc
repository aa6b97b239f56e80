#include "kernels/reference/requantize.h"

#include "util/error.h"

namespace qvit::kernels::ref {
namespace {

// rq_step 0: one Requant for every element; 1: rq[c] for channel c.
void run(const int32_t* in, int32_t* out, int32_t rows, int32_t channels, const Requant* rq, int32_t rq_step,
         ClampRange range, TruncationStats* stats) {
  QVIT_CHECK(rows >= 0 && channels >= 0 && range.lo <= range.hi, "requantize: bad sizes or clamp range");
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    for (int32_t c = 0; c < channels; ++c) {
      const Checked32 y = requant(in[r * channels + c], rq[c * rq_step]);
      out[r * channels + c] = clamp(y.value, range.lo, range.hi);
      events += y.lost ? 1 : 0;
    }
  }
  record_truncations(stats, events, rows * channels);
}

}  // namespace

void requantize(const int32_t* in, int32_t* out, int32_t count, const Requant& rq, ClampRange range,
                TruncationStats* stats) {
  run(in, out, 1, count, &rq, 0, range, stats);
}

void requantize_per_channel(const int32_t* in, int32_t* out, int32_t rows, int32_t channels, const Requant* rq,
                            ClampRange range, TruncationStats* stats) {
  run(in, out, rows, channels, rq, 1, range, stats);
}

void mul_const(const int32_t* in, int32_t count, const int32_t* c, int32_t c_count, int32_t* out, TruncationStats* stats) {
  int32_t events = 0;
  for (int32_t i = 0; i < count; ++i) {
    const Checked32 p = sat_mul(in[i], c[i % c_count]);
    out[i] = p.value;
    events += p.lost ? 1 : 0;
  }
  record_truncations(stats, events, count);
}

void clamp_codes(const int32_t* in, int32_t* out, int32_t count, ClampRange range) {
  for (int32_t i = 0; i < count; ++i) out[i] = in[i] < range.lo ? range.lo : (in[i] > range.hi ? range.hi : in[i]);
}

}  // namespace qvit::kernels::ref
