#pragma once
// The integer softmax kernels (Shiftmax, I-BERT softmax, int32-safe softmax) on the active kernel
// path (kernel_path.h). Same signatures, parameters, errors and results as the reference kernels
// (kernels/reference/{shiftmax,ibert,int32safe_softmax}.h), bit for bit and truncation counts
// included; the path only changes speed:
//   ref           the reference itself (scalar, one thread)
//   plain         the reference on row chunks across threads
//   avx2/avx2vnni kernels/x86/*_avx2.cc on row chunks across threads
//   avx512        kernels/x86/*_avx512.cc on row chunks across threads
// in may equal out. Call these qualified (kernels::shiftmax): argument-dependent lookup also finds
// the ref:: functions of the same name.
#include <cstdint>

#include "kernels/reference/ibert.h"
#include "kernels/reference/int32safe_softmax.h"
#include "kernels/reference/shiftmax.h"
#include "kernels/truncation.h"

namespace qvit::kernels {

// in/out [rows, cols].
void shiftmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ref::ShiftmaxParams& p,
              TruncationStats* stats);

// in/out [rows, cols].
void ibert_softmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ref::IBertSoftmaxParams& p,
                   TruncationStats* stats);

// in/out [rows, cols]; out at scale 2^-M*.
void int32safe_softmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols,
                       const ref::Int32SafeSoftmaxParams& p, TruncationStats* stats);

}  // namespace qvit::kernels
