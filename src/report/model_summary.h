#pragma once
// What `qvit inspect` reports about an imported float graph: op histogram, shapes, parameters,
// and which layers the quantizer will handle (weights, activation-activation matmuls, nonlinears).
#include <nlohmann/json.hpp>
#include <string>

#include "ir/graph.h"

namespace qvit {

// Role of a node for quantization: "linear" (weight layer), "matmul" (activation×activation),
// "softmax", "gelu", "layernorm", "residual_add", or "" (not quantized: data movement etc.).
std::string quant_role(const Graph& g, const Node& n);

nlohmann::json summarize_graph(const Graph& g);
std::string format_summary_text(const nlohmann::json& summary);

}  // namespace qvit
