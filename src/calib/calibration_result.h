#pragma once
// What calibration decides, as plain data with a versioned JSON form ("format": "qvit.calib/1"):
// the recipe it followed, the post-LayerNorm reparameterization factors, per-channel weight
// quantizers and per-tensor activation quantizers (by IR value name). Export and the fake-quant
// simulation only read this; they never re-observe data.
#include <optional>
#include <string>
#include <vector>

#include "calib/quant_params.h"
#include "calib/recipe.h"

namespace qvit {

inline constexpr const char* kCalibFormat = "qvit.calib/1";

// RepQ-ViT reparameterization of one LayerNorm: x' = (x + offset) / r1 per channel, folded into
// the LayerNorm (γ' = γ/r1, β' = (β + offset)/r1) and its consumer Linears (W'[c,:] = r1_c·W[c,:],
// b' = b − Σ_c W[c,:]·offset_c), where offset = s ⊙ r2.
struct LayerNormReparam {
  std::string layernorm;               // LayerNorm node name
  std::vector<std::string> consumers;  // Linear node names
  std::vector<float> r1, offset;
};

struct WeightQuant {
  std::string node;    // Linear / Conv node name
  ChannelQuantParams params;
};

struct ActivationQuant {
  std::string value;   // IR value name
  std::string role;    // "input", "linear_input", "matmul_input", "softmax", "gelu", "layernorm", "residual_add",
                       // "gelu_input", "layernorm_input"
  QuantParams params;
  float observed_min = 0, observed_max = 0;
};

// M* of one softmax layer for the int32-safe kernel (calib/m_star_search.h): the chosen value and
// both candidates.
struct SoftmaxMStar {
  std::string node;          // Softmax node name
  int64_t cols = 0;          // row length
  int32_t m_star = 0;        // chosen (recipe softmax.m_star: "output", "gap", "mse" or a number)
  int32_t output_oriented = 0;  // provable: no nonzero exp divides to 0 on any input
  int32_t smallest_gap = 0;     // the paper's: ulp below the smallest probability gap seen
  int32_t mse_best = 0;
  double mse = 0;            // float-vs-integer softmax MSE at mse_best, on calibration rows
};

// Mixed precision (recipes with an "allocation" block): each allocated layer's importance and the
// widths it got. `block`: -1 stem, 0.. transformer blocks, `blocks` the head.
struct LayerImportanceRecord {
  std::string layer;  // node name
  std::string kind;   // "linear", "conv", "matmul"
  int block = -1;
  double score = 0, relative = 0;
};

struct LayerAllocation {
  std::string layer;
  int weight_bits = 0;      // 0: no weight (activation×activation matmul)
  int activation_bits = 0;  // of the grid(s) it reads, as planned (the widest reader's if shared)
  int64_t weight_count = 0, activation_count = 0;
};

struct BitAllocation {
  std::string scorer;
  int blocks = 0;
  double weight_budget = 0, activation_budget = 0;  // "budget_bits": {"weights", "activations"}
  double weight_bits_avg = 0, activation_bits_avg = 0;
  bool exact = false;  // both averages equal their budgets
  std::string note;    // why not, when not
  std::vector<LayerAllocation> layers;
};

struct CalibrationResult {
  std::string source;        // the file it was read from, for messages ("" when made in memory; not saved)
  std::string model;         // model file as given
  std::string model_sha256;  // of the model file, to refuse applying it to another model
  Recipe recipe;
  int64_t samples = 0;
  std::vector<std::string> sample_ids;
  std::vector<LayerNormReparam> reparams;
  std::vector<WeightQuant> weights;
  std::vector<ActivationQuant> activations;
  std::vector<SoftmaxMStar> softmax;  // optional in the file (absent: lowering's default M*)
  std::vector<LayerImportanceRecord> importance;  // optional: mixed-precision recipes only
  std::optional<BitAllocation> allocation;         // optional: mixed-precision recipes only

  std::string to_json() const;
  // Atomic write (temporary file + rename).
  void save(const std::string& path) const;
};

// Checks everything that can be checked without the model: the format, every list's element kinds,
// every quantizer (quant_params_problem: bits, scale, zero point), per-channel lists of equal length,
// M* in [1, 30], and no two entries for one tensor / node. What needs the model (names, channel
// counts, row lengths) is checked by lower_to_integer. Errors: `<source>: field "<path>": <problem>`.
CalibrationResult parse_calibration_result(const std::string& json_text, const std::string& source);
CalibrationResult load_calibration_result(const std::string& path);

// Hex SHA-256 of a file's bytes.
std::string file_sha256(const std::string& path);

}  // namespace qvit
