#pragma once
#include "ir/graph.h"

namespace qvit {

// Rewrites exporter patterns into single IR ops (see graph.h):
//  - decomposed LayerNorm (ReduceMean, Sub, Pow, ReduceMean, Add ε, Sqrt, Div [, Mul γ][, Add β])
//    and opset-17 LayerNormalization over the last axis → LayerNorm(x, γ, β){epsilon}
//  - erf GELU (x·0.5·(1 + erf(x/√2)) in its exporter orderings) → Gelu(x)
//  - identities (Dropout, no-op Slice/Pad/Reshape…) are removed first
//  - MatMul with a constant 2-D weight [+ Add of a constant bias], Gemm with constant B → Linear
void fuse_patterns(Graph& g);

}  // namespace qvit
