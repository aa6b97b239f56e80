#pragma once
// The layers mixed precision allocates bits to, found from the graph's structure (not its names,
// so any exporter's naming works): every weight layer (Linear / Conv with a constant weight) and
// every activation×activation MatMul (attention's QKᵀ and attn·V). For each, the activation
// tensors it reads, sizes, and where it sits: the stem (before the first attention), transformer
// block k, or the head (no other such layer after it).
#include <string>
#include <vector>

#include "ir/graph.h"

namespace qvit {

struct InventoryLayer {
  int node = -1;
  std::string name;         // node name
  std::string kind;         // "linear", "conv" or "matmul"
  std::vector<int> inputs;  // activation value ids it reads
  int64_t weight_count = 0;      // 0 for activation×activation matmuls
  int64_t activation_count = 0;  // elements of its inputs per image
  // -1: stem; 0..blocks-1: the transformer block (the k-th Softmax's attention and what follows
  // it up to the next attention); `blocks`: the head.
  int block = -1;
};

struct LayerInventory {
  std::vector<InventoryLayer> layers;  // in topological order
  int blocks = 0;                      // Softmax count
};

// `batch` divides the graph's element counts to per-image ones.
LayerInventory find_allocation_layers(const Graph& g, int64_t batch);
// "stem", "block 3", "head".
std::string block_label(const LayerInventory& inv, int block);

}  // namespace qvit
