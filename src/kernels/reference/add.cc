#include "kernels/reference/add.h"

#include "util/error.h"

namespace qvit::kernels::ref {

void add(const int32_t* a, int32_t count, const int32_t* b, int32_t b_count, int32_t* out, const AddParams& p,
         TruncationStats* stats) {
  QVIT_CHECK(count >= 0 && b_count > 0 && count % b_count == 0, "add: b_count must divide count");
  QVIT_CHECK(p.shift >= 0 && p.range.lo <= p.range.hi, "add: bad shift or clamp range");
  int32_t events = 0;
  int32_t j = 0;  // index into b, wraps every b_count
  for (int32_t i = 0; i < count; ++i) {
    const Checked32 ya = requant(a[i], p.a);
    const Checked32 yb = requant(b[j], p.b);
    const Checked32 sum = sat_add(ya.value, yb.value);
    out[i] = clamp(rshift_round(sum.value, p.shift), p.range.lo, p.range.hi);
    events += (ya.lost || yb.lost || sum.lost) ? 1 : 0;
    j = (j + 1 == b_count) ? 0 : j + 1;
  }
  record_truncations(stats, events, count);
}

}  // namespace qvit::kernels::ref
