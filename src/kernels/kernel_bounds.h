#pragma once
// Worst-case intermediate magnitudes of the reference kernels, computed from their params and an
// input bound, for the int32 range proof (docs/integer_math.md derives each one). Not kernel code:
// doubles here hold magnitudes up to ~2^62 exactly enough for a "fits int32" decision.
// Each function returns the largest |intermediate| over all inputs with |x| <= input_bound, and the
// stage where it occurs. fits_int32() is the check the range proof applies.
#include <cstdint>
#include <string>

#include "kernels/reference/add.h"
#include "kernels/reference/ibert.h"
#include "kernels/reference/ilayernorm.h"
#include "kernels/reference/int32safe_softmax.h"
#include "kernels/reference/log2_attention.h"
#include "kernels/reference/shiftgelu.h"
#include "kernels/reference/shiftmax.h"

namespace qvit::kernels {

struct KernelBound {
  double worst_abs = 0.0;  // largest |intermediate|
  std::string stage;       // which intermediate
};

bool fits_int32(double magnitude);
inline bool fits_int32(const KernelBound& b) { return fits_int32(b.worst_abs); }

// |bias| + K max|a| max|b|.
KernelBound matmul_bound(int32_t k, int32_t a_bound, int32_t b_bound, int32_t bias_bound);
// round(B / 2^pre) * m0.
KernelBound requant_bound(const Requant& rq, int32_t input_bound);
KernelBound add_bound(const ref::AddParams& p, int32_t a_bound, int32_t b_bound);
KernelBound shiftmax_bound(const ref::ShiftmaxParams& p, int32_t cols, int32_t input_bound);
KernelBound shiftgelu_bound(const ref::ShiftGeluParams& p, int32_t input_bound);
KernelBound ilayernorm_bound(const ref::ILayerNormParams& p, int32_t input_bound);
KernelBound ibert_softmax_bound(const ref::IBertSoftmaxParams& p, int32_t cols, int32_t input_bound);
KernelBound ibert_gelu_bound(const ref::IBertGeluParams& p, int32_t input_bound);
KernelBound int32safe_softmax_bound(const ref::Int32SafeSoftmaxParams& p, int32_t cols, int32_t input_bound);
KernelBound log2_matmul_bound(const ref::Log2MatmulParams& p, int32_t k, int32_t v_bound);

}  // namespace qvit::kernels
