#pragma once
// Which tensors of a float graph get quantized, and how (DESIGN.md, issue 3 item 2):
//  - weights of every Linear / Conv (per output channel, symmetric);
//  - inputs of every Linear / Conv and of both activation×activation MatMuls (QKᵀ, attn·V);
//  - outputs of Softmax, Gelu, LayerNorm and residual Adds;
//  - inputs of Gelu, and of LayerNorms whose input is not already (moved) quantized data — the
//    integer-only kernels need one grid there (I-ViT quantizes every linear output).
// A tensor read by several quantized ops is quantized once (as hardware would store it once);
// the producer's role wins over a consumer's.
#include <map>
#include <string>
#include <vector>

#include "calib/recipe.h"
#include "ir/graph.h"

namespace qvit {

struct ActivationPoint {
  int value = -1;
  std::string role;  // see ActivationQuant::role
  std::string node;  // the node whose recipe overrides govern the bit width
  int bits = 8;
  QuantScheme scheme = QuantScheme::Asymmetric;
};

struct WeightPoint {
  int node = -1;     // node index (Linear or Conv)
  int weight = -1;   // constant value id
  int axis = 0;      // output-channel axis of the weight (Linear [K,N]: 1; Conv [M,C,kh,kw]: 0)
  int bits = 8;
};

struct QuantPlan {
  std::vector<ActivationPoint> activations;
  std::vector<WeightPoint> weights;
};

// Per-layer widths from a mixed-precision allocation, by node name (0: not set).
struct AllocatedBits {
  int weight_bits = 0;
  int activation_bits = 0;
};
using AllocatedBitsMap = std::map<std::string, AllocatedBits>;

// With `allocated`, a listed layer's weight gets its weight width and every activation point it
// reads (directly or through single-input data movement) its activation width — the widest of
// its readers' when a point feeds several listed layers (hardware stores it once).
QuantPlan plan_quantization(const Graph& g, const Recipe& recipe, const AllocatedBitsMap* allocated = nullptr);
// A Linear or Conv with a constant weight: the layers that get a per-channel weight point.
bool is_weight_layer(const Graph& g, const Node& n);
// The activation points (indices into plan.activations) node `node` reads through single-input
// data movement.
std::vector<size_t> points_read_by(const Graph& g, const QuantPlan& plan, int node);

// Post-LayerNorm reparameterization candidates: LayerNorms whose output reaches only Linear
// inputs through channel-preserving data movement (reshape/transpose/slice/gather/concat that
// keep the last axis intact). For each, the Linear node indices.
struct ReparamSite {
  int layernorm = -1;
  std::vector<int> linears;
};
std::vector<ReparamSite> find_reparam_sites(const Graph& g);

}  // namespace qvit
