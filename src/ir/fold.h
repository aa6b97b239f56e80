#pragma once
#include "ir/graph.h"

namespace qvit {

// With static input shapes, evaluates every value that does not depend on input *data* (weights,
// Constant nodes, Shape/Size of any tensor, and everything computed only from those), turns it
// into a constant, drops the nodes that computed it, and records the static shape and type of
// every remaining value. One concrete run on zero inputs provides both.
void fold_constants(Graph& g);

}  // namespace qvit
