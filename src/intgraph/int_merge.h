#pragma once
// Nodes that compute the same value twice, merged into one: a runtime step (like
// narrow_linear_weights), not part of the IntGraph format. torchvision's MultiheadAttention export
// requantizes the whole qkv product once for each of the Slices that take q, k and v, so the
// lowered graph has three identical per-channel QRequantize nodes over [batch, tokens, 3·dim].
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace qvit {

// Merges every node whose op, attributes and inputs (constants compared by content) equal those of
// an earlier node: its readers read the earlier node's outputs, and the node is removed (unless an
// output of it is a graph output). Every IntGraph op is a pure function of its inputs and
// attributes, so the values are the same. Returns (merged node, node that computes its values)
// name pairs: the runtime reports the merged node's truncation counts as those of the node that
// does its work (the same computation on the same values counts the same).
std::vector<std::pair<std::string, std::string>> merge_duplicate_nodes(Graph& g);

}  // namespace qvit
