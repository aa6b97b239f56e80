#pragma once
// Internal to the integer lowering (lower.h is its interface): the Lowerer, which walks the float
// graph once and emits the IntGraph, with what each integer value means at lowering time. Its
// methods are split by the ops they lower: lower.cc (the walk, grids, requantization),
// lower_linear.cc, lower_nonlinear.cc (Softmax, GELU, LayerNorm), lower_elementwise.cc (Add,
// Sub, Mul/Div, ReLU, MaxPool, means) and lower_movement.cc (data movement, Concat).
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "intgraph/int_graph_check.h"
#include "intgraph/int_ops.h"
#include "intgraph/lower.h"
#include "kernels/dyadic.h"
#include "kernels/kernel_bounds.h"
#include "kernels/kernel_params.h"

namespace qvit::lowering {

using kernels::Requant;
namespace ref = kernels::ref;

// Probabilities leave Shiftmax / the I-BERT softmax with this many bits (scale 2^-(b-1)) before
// they are requantized to the calibrated softmax grid.
constexpr int32_t kProbBits = 16;
// ShiftGELU's sigmoid precision (scale 2^-(b-1)).
constexpr int32_t kSigmoidBits = 16;

// What one unit of an integer value means (lowering-time only).
struct Meta {
  bool per_channel = false;
  double scale = 1.0;          // per tensor
  std::vector<double> scales;  // per channel, along `axis`
  int axis = -1;
  int32_t lo = INT32_MIN, hi = INT32_MAX;  // bounds of the values (a grid's clamp range)
  bool grid = false;           // on an activation quantization grid (`point`, scale = point.scale)
  QuantParams point;
  int32_t bound() const { return std::max(lo == INT32_MIN ? INT32_MAX : -lo, hi); }
};

inline int32_t clamp_to_i32(double v) {
  return static_cast<int32_t>(std::clamp(v, double(INT32_MIN) + 1, double(INT32_MAX)));
}

inline ref::ClampRange grid_range(const QuantParams& p) {
  if (p.scheme == QuantScheme::Symmetric) return {p.qmin(), p.qmax()};
  return {p.qmin() - p.zero_point, p.qmax() - p.zero_point};
}

inline bool same_grid(const QuantParams& a, const QuantParams& b) {
  return a.scheme == b.scheme && a.bits == b.bits && a.zero_point == b.zero_point &&
         std::abs(double(a.scale) - double(b.scale)) <= 1e-6 * std::abs(double(b.scale));
}

inline Tensor rq_tensor(const std::vector<Requant>& rq) {
  Tensor t(DType::Int32, {static_cast<int64_t>(rq.size()), 3});
  for (size_t i = 0; i < rq.size(); ++i) {
    t.data<int32_t>()[3 * i] = rq[i].pre_shift;
    t.data<int32_t>()[3 * i + 1] = rq[i].m0;
    t.data<int32_t>()[3 * i + 2] = rq[i].post_shift;
  }
  return t;
}

class Lowerer {
 public:
  Lowerer(const Graph& g, const CalibrationResult& calib, const LoweringOptions& opt);
  LoweredModel run();
 private:
  const Graph& f_;
  const CalibrationResult& calib_;
  const LoweringOptions& opt_;
  std::map<int, const ActivationQuant*> points_;
  std::map<std::string, const WeightQuant*> weights_;
  std::vector<int> vmap_;  // float value → int value
  std::vector<std::vector<int>> consumers_;
  std::vector<Meta> meta_;  // by int value id
  LoweredModel out_;

  Graph& ig() { return out_.graph; }

  // Shapes are taken by value: callers pass shapes of values in the graph being grown.
  int new_value(const std::string& name, Shape shape, DType dt = DType::Int32);
  int constant(const std::string& name, Tensor t);
  void set(int fid, int iid, const Meta& m);
  int emit(const std::string& op, const std::string& name, std::vector<int> inputs, Shape out_shape,
           std::map<std::string, AttrValue> attrs = {});
  void bound_record(const std::string& node, const std::string& kernel, const kernels::KernelBound& b);
  int in(const Node& node, size_t i) const;
  // Requantizes int value `iv` onto grid `p` (scale p.scale, clamp range of p).
  int requantize_to(int iv, const QuantParams& p, const std::string& name);
  void apply_point(int fid, const Node& producer);
  // The grid a per-channel accumulator should be put on before data movement that cannot carry its
  // channel scales: the next quantization point through single-reader movement and scalar Mul/Div
  // (the point's scale times those factors), or none.
  std::optional<QuantParams> point_ahead(int fid) const;
  // y = x·factor for Mul/Div of `fid` by a positive scalar constant.
  std::optional<double> scalar_factor(const Node& c, int fid) const;
  // A per-tensor version of int value `iv` (float value `fid`): requantized to the point ahead, or
  // to a wide grid at the largest channel scale (every channel keeps at least its own precision
  // relative to the coarsest one; magnitudes do not grow).
  int settle(int fid, int iv, const std::string& name);
  int per_tensor_input(const Node& node, size_t i);
  void lower_node(const Node& node);
  Tensor quantize_weight(const Node& node, const Tensor& w, int axis, std::vector<double>& w_scales, int32_t& w_max);
  void lower_linear(const Node& node);
  void lower_matmul(const Node& node);
  // Probabilities P at scale 2^-frac (int32) onto the Softmax output's point.
  void emit_probabilities(const Node& node, int p_iv, int frac_bits);
  // Swaps `axis` with the last axis (its own inverse), keeping the meta.
  int swap_to_last(int iv, int axis, const std::string& name);
  void lower_softmax(const Node& node);
  void lower_softmax_last_axis(const Node& node, int x);
  void lower_gelu(const Node& node);
  void lower_layernorm(const Node& node);
  // A float constant added to (or concatenated with) an integer value: quantized to that value's
  // scale(s), broadcast to the trailing shape `shape` it must have.
  Tensor constant_at(const Tensor& c, const Meta& m, const Shape& full, size_t skip_leading, int32_t& cmax);
  void lower_add(const Node& node);
  // Sub: x − c is x + (−c); c − x and a − b negate the subtrahend first (QMulConst by −1).
  void lower_sub(const Node& node);
  // −x: the same scale, integers negated (a grid's clamp range mirrored).
  int negated(int x, const std::string& name);
  void add_constant(const Node& node, int d, const Tensor& c);
  void add_tensors(const Node& node, int a, int b);
  void lower_scale(const Node& node);
  // ReLU on integers is max(v, 0): the real zero is the centered code 0 on a grid and 0 in an
  // accumulator, and every scale is positive. It is fused as a raised lower clamp into the
  // requantization next to it: the one onto the ReLU output's point (requantize and ReLU commute),
  // or the one that just produced the input when nothing else reads it; else a QClamp.
  void lower_relu(const Node& node);
  // MaxPool on codes: the maximum of codes is the code of the maximum, so the grid (or the
  // per-channel accumulator scales along the channel axis 1) is unchanged.
  void lower_max_pool(const Node& node);
  // Mul/Div by a constant that varies along one axis only (LayerScale γ, per-channel scales):
  // a per-channel change of scale, |f| folded into the channel scales and the sign applied to the
  // integers (QMulConst by ±1, 0 for a zero factor).
  void scale_per_channel(const Node& node, int data);
  void lower_mean(const Node& node);
  // Where the channel axis of a per-channel value goes through data movement, or -1 if it does not
  // survive as one axis of the same size.
  int carried_axis(const Node& node, int data, const Meta& m) const;
  // Concat of data on different grids (tokens from different branches): the common grid each
  // input is requantized onto — the Concat output's point, else the point ahead, else the
  // coarsest input grid (no input loses range). None when the inputs already share one scale.
  std::optional<QuantParams> concat_grid(const Node& node);
  Meta grid_meta(const QuantParams& p) const;
  void lower_movement(const Node& node);
};

}  // namespace qvit::lowering
