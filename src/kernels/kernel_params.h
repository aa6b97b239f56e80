#pragma once
// Lowering-time construction of the reference kernels' integer parameters (floats allowed here:
// this runs once, in the prepare step, never inside a kernel). Each make_* function takes the
// calibrated float quantities (scales, gamma/beta, bounds) and returns the plain-int params struct
// the kernel consumes, plus the output scale the caller needs to requantize the kernel's result.
// Errors (a scale the integer form cannot represent) are qvit::Error with the reason.
#include <cstdint>
#include <vector>

#include "kernels/reference/ibert.h"
#include "kernels/reference/ilayernorm.h"
#include "kernels/reference/int32safe_softmax.h"
#include "kernels/reference/log2_attention.h"
#include "kernels/reference/shiftgelu.h"
#include "kernels/reference/shiftmax.h"

namespace qvit::kernels {

// ---- I-ViT ----
// i0 = floor(-1/S); S in (0, 1]. n as I-ViT (15 for Shiftmax); output b bits at 2^-(b-1) or log2 codes.
ref::ShiftExpParams make_shift_exp_params(double input_scale, int32_t n);
ref::ShiftmaxParams make_shiftmax_params(double input_scale, int32_t n = 15, ref::ProbOutput output = {});
// n is lowered from I-ViT's 23 if needed so that bits(|I0|) + n <= 30 (no sum shift, no saturation).
ref::ShiftGeluParams make_shiftgelu_params(double input_scale, int32_t sigmoid_bits = 8, int32_t n = 23);
double shiftgelu_output_scale(double input_scale, const ref::ShiftGeluParams& p);  // S 2^-(b-1)

// ---- I-LayerNorm ----
// gamma, beta: float LayerNorm affine; eps: LayerNorm's epsilon; input: centered b-bit values at
// input_scale; output: clamp range and scale of the (centered) output activation.
ref::ILayerNormParams make_ilayernorm_params(const std::vector<float>& gamma, const std::vector<float>& beta,
                                             double eps, double input_scale, int32_t input_bits,
                                             double output_scale, ref::ClampRange output_range,
                                             int32_t shift_m = 15);
// s_norm = sqrt(C) 2^-(M+t): the real value of one unit of the kernel's normalized intermediate.
double ilayernorm_norm_scale(int32_t channels, int32_t input_bits, int32_t shift_m);
// Worst-case |norm| (see ilayernorm.h).
double ilayernorm_norm_bound(int32_t channels, int32_t input_bits, int32_t shift_m);

// ---- I-BERT ----
ref::IExpParams make_iexp_params(double input_scale, int32_t z_max = 30);
double iexp_output_scale(double input_scale);  // 0.3585 S^2
ref::IBertSoftmaxParams make_ibert_softmax_params(double input_scale, ref::ProbOutput output = {});
ref::IBertGeluParams make_ibert_gelu_params(double input_scale, int32_t erf_shift = 0);
double ibert_gelu_output_scale(double input_scale, const ref::IBertGeluParams& p);  // S |a| Se^2 2^k / 2

// ---- int32-safe (MLSys'23) ----
// The smallest softmax input scale whose i-exp maximum stays below 2^(31 - M*): the lowering
// requantizes the softmax input to (at least) this scale, then calls make_int32safe_softmax_params.
double int32safe_softmax_min_input_scale(int32_t m_star);
ref::Int32SafeSoftmaxParams make_int32safe_softmax_params(double input_scale, int32_t m_star);
// GELU input must be requantized to < 10 bits (|q| <= 511): the I-BERT GELU with the smallest erf
// shift for which |q| (one + erf) fits int32 for |q| <= input_bound.
inline constexpr int32_t kInt32SafeGeluMaxInput = 511;
ref::IBertGeluParams make_int32safe_gelu_params(double input_scale, int32_t input_bound = kInt32SafeGeluMaxInput);

// ---- log2 attention ----
// The largest F (<= 30) for which k_len * v_bound * round(sqrt2 2^F) fits int32 (F = 0 if none).
ref::Log2MatmulParams make_log2_matmul_params(int32_t k_len, int32_t v_bound, int32_t code_bits);

}  // namespace qvit::kernels
