#include "calib/mixed_precision.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "calib/bit_allocator.h"
#include "calib/importance.h"
#include "calib/layer_inventory.h"
#include "onnx/onnx_import.h"

namespace qvit {

AllocatedBitsMap allocate_mixed_precision(const std::string& model_path, const Graph& g, const data::Dataset& dataset,
                                          const std::vector<int64_t>& indices, const Recipe& recipe, bool progress,
                                          CalibrationResult& result) {
  const AllocationRecipe& A = recipe.allocation;
  const int64_t batch = g.value(g.inputs.at(0)).shape.at(0);
  const LayerInventory inv = find_allocation_layers(g, batch);
  ImportanceOptions opt;
  opt.scorer = A.scorer;
  opt.sensitivity_bits = A.sensitivity_bits;
  opt.percentile_low = recipe.percentile_low;
  opt.percentile_high = recipe.percentile_high;
  opt.progress = progress;
  std::vector<LayerImportance> scores;
  const auto start = std::chrono::steady_clock::now();
  // The reverse passes explain one image at a time: a dynamic-batch model is imported at batch 1
  // for them (a fixed batch runs as it is, the image in row 0).
  const bool per_image = A.scorer == "lrp" || A.scorer == "gradient";
  if (per_image && batch != 1) {
    ImportOptions iopt;
    iopt.batch = 1;
    const Graph g1 = import_onnx(model_path, iopt);
    if (g1.value(g1.inputs.at(0)).shape.at(0) == 1) {
      const LayerInventory inv1 = find_allocation_layers(g1, 1);
      scores = score_layers(g1, inv1, dataset, indices, opt);
    } else {
      scores = score_layers(g, inv, dataset, indices, opt);
    }
  } else {
    scores = score_layers(g, inv, dataset, indices, opt);
  }
  if (scores.size() != inv.layers.size()) throw InternalError("importance: layer lists differ between batch sizes");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<AllocLayer> layers;
  for (size_t i = 0; i < inv.layers.size(); ++i) {
    const InventoryLayer& l = inv.layers[i];
    result.importance.push_back({l.name, l.kind, l.block, scores[i].score, scores[i].relative});
    layers.push_back({l.name, l.block, l.weight_count, std::max<int64_t>(l.activation_count, 1), scores[i].relative});
  }
  AllocOptions ao;
  ao.widths = A.widths;
  ao.weight_budget = A.weight_budget;
  ao.activation_budget = A.activation_budget;
  ao.high_precision_blocks = A.high_precision_blocks;
  const AllocResult alloc = allocate_bits(layers, ao);
  BitAllocation ba;
  ba.scorer = A.scorer;
  ba.blocks = inv.blocks;
  ba.weight_budget = A.weight_budget;
  ba.activation_budget = A.activation_budget;
  ba.note = alloc.note;
  AllocatedBitsMap map;
  for (size_t i = 0; i < inv.layers.size(); ++i) {
    const LayerBits& b = alloc.layers[i];
    map[b.name] = {b.weight_bits, b.activation_bits};
    spdlog::debug("allocation: {} weight {} activation {} bits", b.name, b.weight_bits, b.activation_bits);
    ba.layers.push_back({b.name, b.weight_bits, b.activation_bits, inv.layers[i].weight_count, inv.layers[i].activation_count});
  }
  result.allocation = std::move(ba);
  spdlog::info("{}: {} importance of {} layers on {} images in {:.1f} s; allocated weights {:.3f} bits, activations {:.3f} bits "
               "(budgets {:g} / {:g})",
               model_path, A.scorer, inv.layers.size(), indices.size(), seconds, alloc.weight_bits_avg, alloc.activation_bits_avg,
               A.weight_budget, A.activation_budget);
  return map;
}

void record_planned_widths(const Graph& g, const QuantPlan& plan, CalibrationResult& result) {
  if (!result.allocation) return;
  BitAllocation& a = *result.allocation;
  double wsum = 0, wcount = 0, asum = 0, acount = 0;
  bool widened = false;
  for (LayerAllocation& l : a.layers) {
    const int node = [&] {
      for (size_t n = 0; n < g.nodes.size(); ++n)
        if (g.nodes[n].name == l.layer) return static_cast<int>(n);
      throw InternalError("allocated layer " + l.layer + " is not in the graph");
    }();
    for (const WeightPoint& w : plan.weights)
      if (w.node == node) l.weight_bits = w.bits;
    int planned = 0;
    for (size_t p : points_read_by(g, plan, node)) planned = std::max(planned, plan.activations[p].bits);
    if (planned > 0 && planned != l.activation_bits) {
      widened = widened || planned > l.activation_bits;
      l.activation_bits = planned;
    }
    wsum += static_cast<double>(l.weight_bits) * static_cast<double>(l.weight_count);
    wcount += static_cast<double>(l.weight_count);
    asum += static_cast<double>(l.activation_bits) * static_cast<double>(l.activation_count);
    acount += static_cast<double>(l.activation_count);
  }
  a.weight_bits_avg = wcount > 0 ? wsum / wcount : 0;
  a.activation_bits_avg = acount > 0 ? asum / acount : 0;
  a.exact = std::fabs(a.weight_bits_avg - a.weight_budget) < 1e-9 && std::fabs(a.activation_bits_avg - a.activation_budget) < 1e-9;
  if (widened) {
    const std::string why = "a grid read by several layers takes the widest reader's width";
    a.note = a.note.empty() ? why : a.note + "; " + why;
  }
  if (!a.exact)
    spdlog::info("allocation: weights {:.4f} of {:g} bits, activations {:.4f} of {:g} bits{}{}", a.weight_bits_avg, a.weight_budget,
                 a.activation_bits_avg, a.activation_budget, a.note.empty() ? "" : ": ", a.note);
}

}  // namespace qvit
