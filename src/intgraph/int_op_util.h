#pragma once
// What every IntGraph kernel (int_ops.cc, int_matmul.cc) does with its OpCall: int32 operands,
// int32 attributes, int32 element counts (the reference kernels index in int32), the node's
// truncation counters.
#include <cstdint>
#include <vector>

#include "intgraph/int_ops.h"
#include "kernels/int_math.h"

namespace qvit::intops {

const int32_t* i32(const OpCall& c, size_t i);  // input i, which must be int32
// Input i as int32 values: its own data, or an int8 tensor (the runtime's narrowed weights,
// runtime/int_model.cc) widened into `scratch`.
const int32_t* i32_values(const OpCall& c, size_t i, std::vector<int32_t>& scratch);
// dst[i] = v[i] − offset as uint8, in parallel (the caller knows every v[i] − offset is in
// [0, 255]).
void to_uint8_codes(const int32_t* v, int64_t n, int32_t offset, uint8_t* dst);
int32_t attr32(const OpCall& c, const char* key);
int32_t checked_count(const OpCall& c, int64_t n);
// a·b as an int32 count, overflow-checked: the dims of an empty tensor can be anything.
int32_t checked_product(const OpCall& c, int64_t a, int64_t b);
kernels::TruncationStats* stats_for(const OpCall& c);
// max |p[i]|, lost when it is 2^31 (an INT32_MIN element): a clamped maximum would under-state the
// bound by one and let a plain int32 loop overflow (INT32_MIN · −1).
kernels::Checked32 max_abs(const int32_t* p, int64_t n);

}  // namespace qvit::intops
