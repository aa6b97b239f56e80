#pragma once
// The integer runtime's elementwise kernels (ShiftGELU, I-BERT GELU, I-LayerNorm, requantize,
// clamp, add, mul_const) on the active kernel path (kernel_path.h):
//   ref                the reference kernels (kernels/reference/), one call, unthreaded
//   plain              the reference kernels on chunks of elements / rows, in parallel
//   avx2, avx2vnni     kernels/x86/<op>_avx2.cc, in parallel
//   avx512             kernels/x86/<op>_avx512.cc, in parallel
// Same signatures and parameters as the reference kernels (documented there), same errors for bad
// parameters, and on every path the reference's outputs bit for bit and its truncation totals
// (one record_truncations per call). out may equal in (a, for add). Call these qualified
// (kernels::add): argument-dependent lookup also finds the ref:: functions of the same name.
#include <cstdint>

#include "kernels/int_math.h"
#include "kernels/reference/add.h"
#include "kernels/reference/ibert.h"
#include "kernels/reference/ilayernorm.h"
#include "kernels/reference/requantize.h"
#include "kernels/reference/shiftgelu.h"
#include "kernels/truncation.h"

namespace qvit::kernels {

void shiftgelu(const int32_t* in, int32_t* out, int32_t count, const ref::ShiftGeluParams& p, TruncationStats* stats);

void ibert_gelu(const int32_t* in, int32_t* out, int32_t count, const ref::IBertGeluParams& p, TruncationStats* stats);

// in/out [rows, C]; C = p.gamma.size().
void ilayernorm(const int32_t* in, int32_t* out, int32_t rows, const ref::ILayerNormParams& p, TruncationStats* stats);

void requantize(const int32_t* in, int32_t* out, int32_t count, const Requant& rq, ref::ClampRange range,
                TruncationStats* stats);

// in/out [rows, channels], rq [channels].
void requantize_per_channel(const int32_t* in, int32_t* out, int32_t rows, int32_t channels, const Requant* rq,
                            ref::ClampRange range, TruncationStats* stats);

// The same, writing uint8 codes value - offset instead of int32 values (the integer runtime's
// storage at the grid's width, intgraph/int_storage.h): equal to requantize followed by that
// narrowing. The clamp range must lie in [offset, offset + 255].
void requantize_codes(const int32_t* in, uint8_t* codes, int32_t count, const Requant& rq, ref::ClampRange range,
                      int32_t offset, TruncationStats* stats);
void requantize_per_channel_codes(const int32_t* in, uint8_t* codes, int32_t rows, int32_t channels, const Requant* rq,
                                  ref::ClampRange range, int32_t offset, TruncationStats* stats);

void clamp_codes(const int32_t* in, int32_t* out, int32_t count, ref::ClampRange range);

// out[i] = in[i] · c[i mod c_count], saturated.
void mul_const(const int32_t* in, int32_t count, const int32_t* c, int32_t c_count, int32_t* out, TruncationStats* stats);

// a, out [count]; b [b_count] repeated (b_count divides count).
void add(const int32_t* a, int32_t count, const int32_t* b, int32_t b_count, int32_t* out, const ref::AddParams& p,
         TruncationStats* stats);

}  // namespace qvit::kernels
