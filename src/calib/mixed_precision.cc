#include "calib/mixed_precision.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "calib/bit_allocator.h"
#include "calib/importance.h"
#include "calib/layer_inventory.h"
#include "onnx/onnx_import.h"

namespace qvit {

namespace {
// Unit index per inventory layer: layers reading a common activation grid share a unit.
std::vector<int> activation_units(const Graph& g, const QuantPlan& plan, const LayerInventory& inv) {
  std::vector<int> unit(inv.layers.size());
  std::vector<int> owner(plan.activations.size(), -1);
  int next = 0;
  for (size_t i = 0; i < inv.layers.size(); ++i) {
    int u = -1;
    const std::vector<size_t> pts = points_read_by(g, plan, inv.layers[i].node);
    for (size_t p : pts)
      if (owner[p] >= 0) u = u < 0 ? owner[p] : std::min(u, owner[p]);
    if (u < 0) u = next++;
    // Merge: every grid of this layer, and every earlier layer on one of them, joins unit u.
    for (size_t p : pts)
      if (owner[p] >= 0 && owner[p] != u) {
        const int old = owner[p];
        for (int& x : unit) x = x == old ? u : x;
        for (int& o : owner) o = o == old ? u : o;
      }
    for (size_t p : pts) owner[p] = u;
    unit[i] = u;
  }
  // Renumber densely in first-use order.
  std::map<int, int> dense;
  for (int& x : unit) x = dense.emplace(x, static_cast<int>(dense.size())).first->second;
  return unit;
}
}  // namespace

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
  for (size_t i = 0; i < inv.layers.size(); ++i) {
    const InventoryLayer& l = inv.layers[i];
    result.importance.push_back({l.name, l.kind, l.block, scores[i].score, scores[i].relative});
  }
  AllocOptions ao;
  ao.widths = A.widths;
  ao.weight_budget = A.weight_budget;
  ao.activation_budget = A.activation_budget;
  ao.high_precision_blocks = A.high_precision_blocks;
  // Weights: one unit per layer.
  std::vector<AllocLayer> weight_units;
  for (size_t i = 0; i < inv.layers.size(); ++i)
    weight_units.push_back({inv.layers[i].name, inv.layers[i].block, inv.layers[i].weight_count, 1, scores[i].relative});
  const AllocResult walloc = allocate_bits(weight_units, ao);
  // Activations: one unit per set of layers that share a grid (hardware stores a tensor once), so
  // the budget counts every grid once and no shared grid is widened past the allocation. A unit
  // serves its most important reader and belongs to its earliest block.
  const QuantPlan plan = plan_quantization(g, recipe);
  const std::vector<int> unit = activation_units(g, plan, inv);
  std::vector<AllocLayer> act_units;
  std::vector<std::vector<size_t>> unit_points;
  for (size_t i = 0; i < inv.layers.size(); ++i) {
    const size_t u = static_cast<size_t>(unit[i]);
    if (u >= act_units.size()) {
      act_units.resize(u + 1, AllocLayer{"", 1 << 20, 0, 0, 0.0});
      unit_points.resize(u + 1);
    }
    AllocLayer& a = act_units[u];
    a.name = a.name.empty() ? inv.layers[i].name : a.name;
    a.block = std::min(a.block, inv.layers[i].block);
    a.importance = std::max(a.importance, scores[i].relative);
    for (size_t p : points_read_by(g, plan, inv.layers[i].node))
      if (std::find(unit_points[u].begin(), unit_points[u].end(), p) == unit_points[u].end()) unit_points[u].push_back(p);
  }
  for (size_t u = 0; u < act_units.size(); ++u) {
    int64_t n = 0;
    for (size_t p : unit_points[u]) n += shape_numel(g.value(plan.activations[p].value).shape) / std::max<int64_t>(batch, 1);
    act_units[u].activation_count = std::max<int64_t>(n, 1);
  }
  const AllocResult aalloc = allocate_bits(act_units, ao);
  AllocResult alloc = walloc;
  alloc.activation_bits_avg = aalloc.activation_bits_avg;
  alloc.note.clear();
  // Each run's note about its own kind (the other kind was a placeholder there).
  const std::pair<const std::string*, const char*> notes[] = {{&walloc.note, "weights"}, {&aalloc.note, "activations"}};
  for (const auto& [part, kind] : notes)
    for (size_t at = 0, next; at < part->size(); at = next + 2) {
      next = part->find("; ", at);
      if (next == std::string::npos) next = part->size();
      const std::string piece = part->substr(at, next - at);
      if (piece.rfind(kind, 0) == 0) alloc.note += (alloc.note.empty() ? "" : "; ") + piece;
    }
  for (size_t i = 0; i < inv.layers.size(); ++i) alloc.layers[i].activation_bits = aalloc.layers[static_cast<size_t>(unit[i])].activation_bits;
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
  double wsum = 0, wcount = 0;
  bool widened = false;
  std::vector<size_t> grids;  // every grid an allocated layer reads, once
  for (LayerAllocation& l : a.layers) {
    const int node = [&] {
      for (size_t n = 0; n < g.nodes.size(); ++n)
        if (g.nodes[n].name == l.layer) return static_cast<int>(n);
      throw InternalError("allocated layer " + l.layer + " is not in the graph");
    }();
    for (const WeightPoint& w : plan.weights)
      if (w.node == node) l.weight_bits = w.bits;
    int planned = 0;
    for (size_t p : points_read_by(g, plan, node)) {
      planned = std::max(planned, plan.activations[p].bits);
      if (std::find(grids.begin(), grids.end(), p) == grids.end()) grids.push_back(p);
    }
    if (planned > 0 && planned != l.activation_bits) {
      widened = widened || planned > l.activation_bits;
      l.activation_bits = planned;
    }
    wsum += static_cast<double>(l.weight_bits) * static_cast<double>(l.weight_count);
    wcount += static_cast<double>(l.weight_count);
  }
  // Activation bits averaged over the grids themselves, each counted once.
  double asum = 0, acount = 0;
  for (size_t p : grids) {
    const double n = static_cast<double>(shape_numel(g.value(plan.activations[p].value).shape));
    asum += plan.activations[p].bits * n;
    acount += n;
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
