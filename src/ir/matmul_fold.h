#pragma once
// Inference-time folding of attention's data movement into its MatMuls. A ViT's head split is
// Slice → Reshape → Transpose (and Kᵀ one more Transpose, Q a Div by √d) before QKᵀ and attn·V, and a
// Transpose after attn·V: every one of them copies the activation. Here each MatMul operand is
// traced back through such single-consumer chains to the tensor they started from and described as
// a strided view of it (plus a scalar from a Div/Mul by a constant), and a Transpose that is the
// MatMul's only reader becomes a strided output. The executor then skips the chain nodes.
//
// The float graph is not changed: calibration and fake-quant observe every value and run the
// unfolded plan; only observer-free inference (FloatModel, benchmarks) runs this one.
#include <memory>
#include <vector>

#include "ir/graph.h"
#include "ir/strided_view.h"

namespace qvit {

struct FoldedMatMul {
  StridedView a, b;    // operands as views of the executor's inputs 0 and 1
  float alpha = 1.0f;  // y = alpha · A·B
  StridedView y;       // where output element (batch…, m, n) goes in the output buffer
  Shape y_shape;       // the output buffer's shape (a folded Transpose's output shape)
};

struct FoldPlan {
  std::vector<char> skip;                                    // per node: not executed
  std::vector<std::vector<int>> inputs, outputs;             // per node: value ids actually read / written
  std::vector<std::shared_ptr<const FoldedMatMul>> matmul;   // per node, or null
  int folded_nodes = 0;                                      // nodes skipped
};

// Plans the folding for every MatMul whose operands have equal batch shapes and rank ≥ 3.
FoldPlan plan_matmul_folding(const Graph& g);

}  // namespace qvit
