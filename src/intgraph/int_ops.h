#pragma once
// The integer op set of an IntGraph. An IntGraph is an ir::Graph whose tensors are all Int32 (plus
// the Int64 shape constants of data-movement ops) and whose compute ops are the ones below, every
// parameter an integer attribute or Int32 constant input — so it runs on the ordinary Executor,
// exports node for node to ONNX (domain "qvit"), and no float is reachable at run time. Data
// movement (Reshape, Transpose, Slice, Concat, Gather, Pad, Split, Squeeze, …) keeps its ONNX op
// and runs the float op set's dtype-generic kernels on the Int32 tensors.
//
// Activations are centered integers v = q − z (kernels/reference/requantize.h). Ops and operands:
//   QMatMul      A[…,M,K], B[…,K,N] or [K,N], bias[N]?      → int32 accumulators
//   QConv        X, W[M,C/g,kh,kw], bias[M]?  (Conv attrs)   → int32 accumulators
//   QRequantize  X, rq[C,3] (pre, m0, post per channel; C = 1 per tensor); attrs axis, lo, hi
//   QAdd         A, B (B repeats over A's leading elements), rq[2,3]; attrs shift, lo, hi
//   QShiftmax    X; attrs i0, n, out_bits                      → probabilities at 2^−(out_bits−1)
//   QIBertSoftmax X; attrs ln2, b, c, z_max, out_bits
//   QInt32SafeSoftmax X; attrs ln2, b, c, z_max, m_star      → probabilities at 2^−m_star
//   QShiftGelu   X; attrs i0, n, sigmoid_bits                  → int32 (then QRequantize)
//   QIBertGelu   X; attrs clip, one, shift, one_shifted        → int32 (then QRequantize)
//   QLayerNorm   X, gamma[C], beta[C], rq[C,3]; attrs input_bits, shift_m, var_eps, lo, hi
//   QLog2Codes   P, rq[1,3]; attrs frac_bits, code_bits       → log-√2 codes of requant(P)
//   QLog2MatMul  codes[…,M,K], V[…,K,N]; attrs frac_bits, sqrt2, code_bits
//   QMean        X; attrs axes, keepdims                       → rounded integer mean
//   QMulConst    X, C (int32, repeats over X's leading elements)  → X·C (saturated, counted)
//   QClamp       X; attrs lo, hi                               → max(lo, min(x, hi)) (ReLU: lo 0)
//   QMaxPool     X; attrs kernel_shape, strides?, pads?, dilations?, ceil_mode? (ONNX MaxPool)
#include <cstdint>
#include <map>
#include <string>

#include "ir/op_registry.h"
#include "kernels/truncation.h"

namespace qvit {

// Kernel of an IntGraph op: the integer ops above, else the float op set's kernel (data movement).
OpFn find_int_op(const std::string& op_type);
bool is_int_compute_op(const std::string& op_type);
// The default-domain ops an IntGraph may hold besides them: data movement on Int32 tensors.
bool is_int_data_movement_op(const std::string& op_type);

// Passed as the Executor's run context: truncation counts per node name.
struct IntRunStats {
  std::map<std::string, kernels::TruncationStats> per_node;
};

}  // namespace qvit
