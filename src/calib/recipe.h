#pragma once
// A quantization recipe (configs/recipes/*.json, "format": "qvit.recipe/1"): bit widths, observers
// and which PTQ tricks are on. Loading validates every field (one-line errors naming the field).
#include <optional>
#include <string>
#include <vector>

#include "calib/quant_params.h"

namespace qvit {

inline constexpr const char* kRecipeFormat = "qvit.recipe/1";

enum class ObserverKind { MinMax, Percentile, Mse };
enum class PostLayerNormMode { LayerWise, Reparam, ClippedReparam };

const char* observer_name(ObserverKind k);
const char* post_layernorm_name(PostLayerNormMode m);

struct LayerBitsOverride {
  std::string pattern;  // glob over node names: '*' any run of characters, '?' one character
  std::optional<int> weight_bits, activation_bits;
};

// Mixed-precision bit allocation (issue 10): a scorer ranks the layers of find_allocation_layers,
// the allocator (calib/bit_allocator.h) spends the budget. Widths apply to a layer's weight and to
// the activation grid(s) it reads; explicit `layers` overrides still apply to everything else.
struct AllocationRecipe {
  bool enabled = false;
  std::string scorer = "lrp";           // "lrp", "gradient", "sensitivity", "uniform" (calib/importance.h)
  std::vector<int> widths = {3, 4, 5, 6, 8};
  double weight_budget = 0, activation_budget = 0;  // average bits; default: weights.bits / activations.bits
  int high_precision_blocks = 0;        // LRP-QViT's rule: the first k blocks above the budget
  int sensitivity_bits = 3;             // the width the sensitivity scorer probes each layer at
};

struct Recipe {
  std::string name;
  // Weights: per-output-channel symmetric.
  int weight_bits = 8;
  ObserverKind weight_observer = ObserverKind::MinMax;
  // Activations: per-tensor asymmetric.
  int activation_bits = 8;
  ObserverKind activation_observer = ObserverKind::Percentile;
  double percentile_low = 0.1, percentile_high = 99.9;
  // Softmax output: uniform (activation bits) or the log-√2 quantizer.
  bool softmax_log_sqrt2 = false;
  int softmax_bits = 8;
  // M* of the int32-safe softmax: "output" (provably truncation-free), "gap" (ulp below the smallest
  // probability gap seen), "mse", or a fixed number.
  std::string m_star_rule = "output";
  int m_star_fixed = 0;
  // Post-LayerNorm activations.
  PostLayerNormMode post_layernorm = PostLayerNormMode::LayerWise;
  double clip_k = 3.0;  // CRL: channel scales/zero points clipped to mean ± k·std
  int samples = 32;
  // Integer-only Softmax/GELU kernels: "shift" (I-ViT), "poly" (I-BERT), "int32safe" (MLSys'23).
  std::string nonlinear = "int32safe";
  // Minimum width of the GELU and LayerNorm inputs the integer kernels need on a grid (they are not
  // matmul operands, so low-bit recipes keep them at 8 bits unless told otherwise).
  int nonlinear_input_bits = 8;
  std::vector<LayerBitsOverride> layers;
  AllocationRecipe allocation;

  int weight_bits_for(const std::string& node) const;
  int activation_bits_for(const std::string& node) const;
};

// A recipe file, or a bundled recipe by name ("w8a8" → configs/recipes/w8a8.json, looked up in
// ./configs/recipes and the source tree's). Clear error listing the bundled names otherwise.
Recipe load_recipe(const std::string& path_or_name);
Recipe parse_recipe(const std::string& json_text, const std::string& source);
// The recipe as JSON (stored inside a CalibrationResult so it records how it was made).
std::string recipe_to_json(const Recipe& r);

bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace qvit
