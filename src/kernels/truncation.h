#pragma once
// Truncation counting for the integer kernels (MLSys'23 "Practical Edge Kernels for Integer-Only
// ViTs", Table 1: "truncation ratio" = truncated result elements / all result elements).
//
// An output element is counted once (at most) when its computation lost information past int32:
//   - a left shift, sum or product that did not fit int32 and was saturated, including row-level
//     values it depends on (a saturated softmax denominator marks the whole row), or
//   - a division (or final normalization) that gave 0 for a nonzero numerator.
// Counting at most one event per element keeps the ratio in [0, 1] and lets each kernel call use
// an int32 counter (a call never has more than INT32_MAX elements). This struct, which accumulates
// over calls, is the only place wide counters live; counting is bookkeeping, not kernel arithmetic.
#include <cstdint>

namespace qvit::kernels {

struct TruncationStats {
  uint64_t events = 0;
  uint64_t elements = 0;

  void add(int32_t call_events, int32_t call_elements) {
    events += static_cast<uint64_t>(call_events);
    elements += static_cast<uint64_t>(call_elements);
  }
  void add(const TruncationStats& other) {
    events += other.events;
    elements += other.elements;
  }
};

// What kernels call at the end: stats may be null (counting not wanted).
inline void record_truncations(TruncationStats* stats, int32_t call_events, int32_t call_elements) {
  if (stats != nullptr) stats->add(call_events, call_elements);
}

}  // namespace qvit::kernels
