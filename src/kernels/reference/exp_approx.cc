#include "kernels/reference/exp_approx.h"

#include <string>

#include "util/error.h"

namespace qvit::kernels::ref {

void validate(const ShiftExpParams& p) {
  if (p.i0 > -1 || p.i0 < -(1 << 30))
    throw Error("shift-exp: I0 = floor(-1/S) must be in [-2^30, -1], got " + std::to_string(p.i0));
  if (p.n < 0 || p.n > 30) throw Error("shift-exp: n must be in [0, 30], got " + std::to_string(p.n));
  if (sat_mul(p.n, p.i0).lost) throw Error("shift-exp: n * I0 does not fit int32");
}

void validate(const IExpParams& p) {
  if (p.ln2 < 1) throw Error("i-exp: ln2 constant must be >= 1 (input scale too large)");
  if (p.z_max < 0 || p.z_max > 30) throw Error("i-exp: z_max must be in [0, 30]");
  if (sat_mul(p.z_max, p.ln2).lost) throw Error("i-exp: z_max * ln2 does not fit int32");
  if (p.b < 0 || p.c < 0) throw Error("i-exp: polynomial constants must be >= 0");
}

}  // namespace qvit::kernels::ref
