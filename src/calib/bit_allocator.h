#pragma once
// Mixed-precision bit allocation: given per-layer sizes and importances, choose one bit width per
// layer (separately for weights and for input activations) from an allowed set so that the
// size-weighted average width stays within a budget. Pure: no model, no I/O.
//
// Model. Quantization noise power falls 4x per extra bit, so a layer's damage is modelled as
// importance · count · 4^(−bits); per kind the sum is minimized (greedily, then a small swap pass
// that tries to meet the budget exactly; see the .cc) subject to Σ count·bits ≤ budget·Σ count.
// The budget is a hard cap (it is a size target), never exceeded beyond 1e-12
// relative rounding slack — except when it lies below the smallest width, where everything is at
// the smallest width and the (positive) miss is reported.
//
// Guarantees (per kind, among layers not forced by the block rule), with "i dominates j" meaning
// importance_i ≥ importance_j and count_i ≤ count_j:
//  - monotone: i dominates j ⇒ bits_i ≥ bits_j (so layers with equal importance and count get equal
//    bits);
//  - not wasteful: for every layer j below the largest width, raising j one allowed step together
//    with every layer at j's width that dominates j (the smallest upgrade keeping monotonicity)
//    would exceed the budget. A lone one-step upgrade of j that fits therefore always has a
//    dominating layer at the same width (raising j alone would break monotonicity).
#include <cstdint>
#include <string>
#include <vector>

namespace qvit {

struct AllocLayer {
  std::string name;
  int block = -1;                // transformer block index; -1 = stem (before block 0)
  int64_t weight_count = 0;      // parameters of the weight; 0 = no weight (activation×activation)
  int64_t activation_count = 0;  // elements of the quantized input activation(s) per image (> 0)
  double importance = 0;         // relative importance (>= 0, higher = more important)
};

struct AllocOptions {
  std::vector<int> widths;        // allowed bit widths, each in [2, 16]; sorted and deduplicated here
  double weight_budget = 4;       // target average weight bits, weighted by weight_count
  double activation_budget = 4;   // target average activation bits, weighted by activation_count
  // LRP-QViT's rule: layers with 0 <= block < this get the smallest allowed width strictly above
  // the budget (the largest width if none is above), before the rest is allocated. If that leaves
  // no room for the rest even at the smallest width, the forced layers are lowered to the largest
  // width that still fits (the budget wins over the heuristic) and `note` says so.
  int high_precision_blocks = 0;
};

struct LayerBits {
  std::string name;
  int weight_bits = 0;  // 0 when weight_count == 0
  int activation_bits = 0;
};

struct AllocResult {
  std::vector<LayerBits> layers;  // same order as the input
  // Achieved weighted averages. With no weighted layer at all, weight_bits_avg is 0 and the weight
  // budget counts as met (weight_miss 0).
  double weight_bits_avg = 0, activation_bits_avg = 0;
  // achieved − budget: <= 0 normally, > 0 only for a budget below the smallest width; set to 0 when
  // |achieved − budget| < 1e-9.
  double weight_miss = 0, activation_miss = 0;
  bool exact = false;  // both budgets met exactly (|achieved − budget| < 1e-9)
  std::string note;    // why not exact / what was adjusted; empty when exact and nothing adjusted
};

// Throws qvit::Error on invalid input (empty lists, widths outside [2, 16], negative or non-finite
// counts/importances/budgets, activation_count <= 0).
AllocResult allocate_bits(const std::vector<AllocLayer>& layers, const AllocOptions& opt);

}  // namespace qvit
