#pragma once
// The structure-aware ONNX generator of the `onnx_struct` fuzz surface: fuzz bytes choose a small
// model — which supported ops (every op of supported_ops() is reachable), how they are wired,
// the ranks, dims and dtypes of the graph input and of initializers, their values (small integers
// for shape inputs, extremes and NaN sometimes), and each node's attributes (the names the float
// engine reads, with lists of any length and values of any sign), starting from the valid call
// of each op in tests/fuzz/op_cases.h so that most models pass the ONNX checker — and it is serialized with
// onnx_synth. Byte-level fuzzing of ONNX rarely gets past the protobuf parser and the checker;
// this reaches import, folding and the executor with inputs no exporter writes.
#include <cstddef>
#include <cstdint>
#include <string>

namespace qvit::fuzz {

// Always returns a serialized model (possibly one the importer rejects); never throws.
std::string generate_onnx_model(const uint8_t* data, size_t size);

}  // namespace qvit::fuzz
