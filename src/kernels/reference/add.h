#pragma once
// Integer addition of two tensors with different scales (residual adds, position embeddings):
//   out = clamp(rshift_round(requant(a, rq_a) + requant(b, rq_b), shift), lo, hi)
// rq_a ~ s_a / s_out * 2^shift and rq_b ~ s_b / s_out * 2^shift: both operands are brought to the
// output scale with `shift` extra fraction bits, added, and rounded once, so the sum has one final
// rounding (error <= 1/2 + the two multiplier errors / 2^shift) instead of two. shift = 0 is the
// plain form. Centered activations (requantize.h), so no zero points appear.
#include <cstdint>

#include "kernels/int_math.h"
#include "kernels/reference/requantize.h"
#include "kernels/truncation.h"

namespace qvit::kernels::ref {

struct AddParams {
  Requant a;
  Requant b;
  int32_t shift = 0;  // extra fraction bits of the two requantized operands, >= 0
  ClampRange range;
};

// a, out: [count]; b: [b_count], repeated every b_count elements of a (b_count divides count):
// b_count = count is the plain add, b = [T, C] with a = [B, T, C] is a position embedding.
void add(const int32_t* a, int32_t count, const int32_t* b, int32_t b_count, int32_t* out, const AddParams& p,
         TruncationStats* stats);

}  // namespace qvit::kernels::ref
