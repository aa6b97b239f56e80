#pragma once
// Vectorizable float32 exp and erf for the float executor's hot loops (softmax, GELU). Plain C++
// written so GCC auto-vectorizes it; accuracy is a few ulp, far inside the 1e-3 relative parity
// tolerance against PyTorch and ONNX's node-test tolerances.
#include <cstdint>

namespace qvit {

// y[i] = exp(x[i]); x below -87.3 gives 0, above 88.7 gives +inf.
void exp_f32(const float* x, float* y, int64_t n);
// y[i] = erf(x[i]).
void erf_f32(const float* x, float* y, int64_t n);
// y[i] = x[i] * 0.5 * (1 + erf(x[i] / sqrt(2)))  (exact GELU, as torch.nn.GELU()).
void gelu_f32(const float* x, float* y, int64_t n);

// Softmax of one contiguous row: y = exp(x − max)/Σ; y may equal x. An AVX-512 kernel when the
// CPU has it (same polynomial as exp_f32, masked tails), else the portable loop.
void softmax_row_f32(const float* x, float* y, int64_t len);
// y = (x − mean)/sqrt(var + eps)·γ + β over one row (two-pass statistics); returns mean and
// 1/sqrt(var + eps).
void layernorm_row_f32(const float* x, float* y, int64_t len, const float* gamma, const float* beta, float eps,
                       float* mean, float* inv_std);

}  // namespace qvit
