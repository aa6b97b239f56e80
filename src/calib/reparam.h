#pragma once
// RepQ-ViT post-LayerNorm reparameterization (and LRP-QViT's clipped variant, CRL): from the
// channel-wise quantizers (s_c, z_c) of a LayerNorm's output, compute per-channel factors and fold
// them into the LayerNorm's γ/β and its consumer Linears so that a single per-tensor quantizer
// (s̃, z̃) = (mean s_c, round(mean z_c)) serves the whole tensor. Formulas in DESIGN.md and
// calibration_result.h.
#include <vector>

#include "calib/calibration_result.h"
#include "calib/observers.h"
#include "ir/graph.h"

namespace qvit {

// Factors from per-channel observed ranges. With clip_k > 0 (CRL), s_c and z_c are first clipped
// to mean ± clip_k·std over channels.
LayerNormReparam compute_reparam(const std::vector<Range>& channel_ranges, int bits, double clip_k);

// Folds `r` into the graph (new constants; the originals may be shared). The float function
// of the graph is unchanged. Clear error if a named node is missing or shapes disagree.
void apply_reparam(Graph& g, const LayerNormReparam& r);

}  // namespace qvit
