#include "kernels/dyadic.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>

#include "util/error.h"

namespace qvit::kernels {
namespace {

constexpr int32_t kMaxShift = 62;

// Largest-m0 dyadic form of `target` with m0 <= cap (cap >= 1): the largest s such that
// round(target * 2^s) <= cap, s in [0, kMaxShift]. Returns m0 = 0 if target * 2^62 rounds to 0.
Dyadic best_under_cap(double target, int64_t cap) {
  Dyadic d;
  if (target <= 0.0) return d;
  int e = 0;
  std::frexp(target, &e);  // target in [2^(e-1), 2^e)
  // target * 2^s < 2^(e+s) <= cap + 1  ->  start from s = bits(cap) - e and walk down.
  int32_t s = static_cast<int32_t>(std::bit_width(static_cast<uint64_t>(cap))) - e;
  if (s > kMaxShift) s = kMaxShift;
  for (; s >= 0; --s) {
    const double m = std::round(std::ldexp(target, s));
    if (m <= static_cast<double>(cap)) {
      d.m0 = static_cast<int32_t>(m);
      d.shift = s;
      return d;
    }
  }
  d.m0 = -1;  // no s >= 0 works: target > cap
  return d;
}

}  // namespace

Dyadic decompose_multiplier(double multiplier, int32_t max_m0_bits) {
  if (!std::isfinite(multiplier) || multiplier < 0.0)
    throw Error("decompose_multiplier: multiplier must be finite and >= 0, got " + std::to_string(multiplier));
  if (max_m0_bits < 1 || max_m0_bits > 31)
    throw Error("decompose_multiplier: max_m0_bits must be in [1, 31], got " + std::to_string(max_m0_bits));
  const int64_t cap = (int64_t{1} << max_m0_bits) - 1;
  const Dyadic d = best_under_cap(multiplier, cap);
  if (d.m0 < 0)
    throw Error("decompose_multiplier: multiplier " + std::to_string(multiplier) + " needs more than " +
                std::to_string(max_m0_bits) + " integer bits");
  return d;
}

Requant make_requant(double multiplier, int32_t input_bound) {
  if (!std::isfinite(multiplier) || multiplier < 0.0)
    throw Error("make_requant: multiplier must be finite and >= 0, got " + std::to_string(multiplier));
  if (input_bound < 0) throw Error("make_requant: input bound must be >= 0");
  const double bound = std::max<double>(input_bound, 1.0);
  if (multiplier * bound >= 2147483647.0)
    throw Error("make_requant: multiplier " + std::to_string(multiplier) + " times input bound " +
                std::to_string(input_bound) + " does not fit int32");
  if (multiplier == 0.0) return Requant{0, 0, 0};

  Requant best;
  double best_err = INFINITY;
  for (int32_t p = 0; p <= 30; ++p) {
    const int64_t bp = std::max<int64_t>(1, (static_cast<int64_t>(bound) + ((int64_t{1} << p) >> 1)) >> p);
    const int64_t cap = std::min<int64_t>(2147483647 / bp, 2147483647);
    const double target = std::ldexp(multiplier, p);
    const Dyadic d = best_under_cap(target, cap);
    if (d.m0 < 0) continue;
    const double err = (p > 0 ? 0.5 * target : 0.0) +
                       static_cast<double>(bp) * std::fabs(std::ldexp(static_cast<double>(d.m0), -d.shift) - target);
    // Strictly better by more than a relative 1e-9: ties keep the smaller pre-shift.
    if (err < best_err * (1.0 - 1e-9)) {
      best_err = err;
      best = Requant{p, d.m0, d.shift};
    }
  }
  QVIT_CHECK(std::isfinite(best_err), "make_requant found no representation");
  return best;
}

double requant_multiplier(const Requant& rq) {
  return std::ldexp(static_cast<double>(rq.m0), -(rq.pre_shift + rq.post_shift));
}

double requant_error_bound(const Requant& rq, double multiplier, int32_t input_bound) {
  const int64_t bp = (static_cast<int64_t>(input_bound) + ((int64_t{1} << rq.pre_shift) >> 1)) >> rq.pre_shift;
  const double target = std::ldexp(multiplier, rq.pre_shift);
  const double applied = std::ldexp(static_cast<double>(rq.m0), -rq.post_shift);
  return 0.5 + (rq.pre_shift > 0 ? 0.5 * applied : 0.0) + static_cast<double>(bp) * std::fabs(applied - target);
}

}  // namespace qvit::kernels
