#include "report/allocation_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

namespace qvit {
namespace {

const LayerImportanceRecord* importance_of(const CalibrationResult& c, const std::string& layer) {
  for (const auto& l : c.importance)
    if (l.layer == layer) return &l;
  return nullptr;
}

// The last two components of a node path ("/blocks/blocks.3/attn/qkv/MatMul" → "qkv/MatMul").
std::string short_name(const std::string& name) {
  const size_t last = name.rfind('/');
  if (last == std::string::npos || last == 0) return name;
  const size_t prev = name.rfind('/', last - 1);
  return name.substr(prev == std::string::npos ? 0 : prev + 1);
}

std::string cell(const LayerAllocation& l, const LayerImportanceRecord* imp) {
  char buf[64];
  if (l.weight_bits > 0) std::snprintf(buf, sizeof buf, "w%d a%d", l.weight_bits, l.activation_bits);
  else std::snprintf(buf, sizeof buf, "a%d", l.activation_bits);
  std::string s = buf;
  if (imp) {
    std::snprintf(buf, sizeof buf, " (%.2f)", imp->relative);
    s += buf;
  }
  return s;
}

std::string pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

}  // namespace

nlohmann::json allocation_summary(const CalibrationResult& c) {
  if (!c.allocation) return nullptr;
  const BitAllocation& a = *c.allocation;
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : a.layers) {
    const LayerImportanceRecord* imp = importance_of(c, l.layer);
    layers.push_back({{"layer", l.layer},
                      {"kind", imp ? imp->kind : ""},
                      {"block", imp ? imp->block : -1},
                      {"weight_bits", l.weight_bits},
                      {"activation_bits", l.activation_bits},
                      {"score", imp ? imp->score : 0.0},
                      {"relative", imp ? imp->relative : 0.0}});
  }
  return {{"scorer", a.scorer},
          {"budget_bits", {{"weights", a.weight_budget}, {"activations", a.activation_budget}}},
          {"weight_bits_avg", a.weight_bits_avg},
          {"activation_bits_avg", a.activation_bits_avg},
          {"exact", a.exact},
          {"note", a.note},
          {"layers", layers}};
}

std::string format_allocation_table(const CalibrationResult& c) {
  std::ostringstream out;
  if (!c.allocation) {
    out << "allocation  none: uniform widths (weights " << c.recipe.weight_bits << " bits, activations " << c.recipe.activation_bits
        << " bits, recipe " << c.recipe.name << ")\n";
    return out.str();
  }
  const BitAllocation& a = *c.allocation;
  char buf[256];
  std::snprintf(buf, sizeof buf, "allocation  %s importance, recipe %s: weights %.3f bits (budget %g), activations %.3f bits (budget %g)%s\n",
                a.scorer.c_str(), c.recipe.name.c_str(), a.weight_bits_avg, a.weight_budget, a.activation_bits_avg, a.activation_budget,
                a.exact ? ", exact" : "");
  out << buf;
  if (!a.note.empty()) out << "            " << a.note << "\n";
  out << "            cells: w<weight bits> a<activation bits> (relative importance)\n\n";
  // Rows: stem, blocks, head; columns: position of the layer in its block.
  std::map<int, std::vector<const LayerAllocation*>> rows;
  for (const auto& l : a.layers) {
    const LayerImportanceRecord* imp = importance_of(c, l.layer);
    rows[imp ? imp->block : -1].push_back(&l);
  }
  std::vector<std::string> header;
  size_t columns = 0;
  for (const auto& [block, ls] : rows)
    if (block >= 0 && block < a.blocks && ls.size() > columns) {
      columns = ls.size();
      header.clear();
      for (const auto* l : ls) header.push_back(short_name(l->layer));
    }
  size_t width = 14;
  for (const auto& h : header) width = std::max(width, h.size() + 2);
  out << pad("block", 8);
  for (const auto& h : header) out << pad(h, width);
  out << "\n";
  for (const auto& [block, ls] : rows) {
    if (block < 0 || block >= a.blocks) continue;
    out << pad(std::to_string(block), 8);
    for (const auto* l : ls) out << pad(cell(*l, importance_of(c, l->layer)), width);
    out << "\n";
  }
  for (const int edge : {-1, a.blocks}) {
    auto it = rows.find(edge);
    if (it == rows.end()) continue;
    for (const auto* l : it->second)
      out << pad(edge < 0 ? "stem" : "head", 8) << pad(short_name(l->layer), width) << cell(*l, importance_of(c, l->layer)) << "\n";
  }
  return out.str();
}

}  // namespace qvit
