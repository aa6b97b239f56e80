#pragma once
// Hostile edits of an exported integer model (.int.onnx), for the fuzz target int_onnx_mutate
// (tests/fuzz) and the hostile-input tests, which must not include ONNX headers themselves. Like
// damage_int_onnx (int_onnx_export.h), test support only: nothing in qvit's own pipeline calls it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qvit::testing {

// Parses `model_bytes` (a real export), applies 1–3 mutations the bytes `choices` pick, and returns
// the serialized result. Each mutation picks, byte by byte, a target and a hostile value:
//   - a node attribute set to 0, ±1, its range's bounds ±1 (int_graph_check.h), INT32/INT64
//     extremes, shift-like values (31, 32, 33, 62, 63, 64), huge or random; dropped, duplicated,
//     retyped (int ↔ ints ↔ float ↔ string), or an unknown one added;
//   - an initializer element (requantizer shifts and multipliers, weights, biases, shape
//     constants) set likewise; its dtype or dims changed, its data truncated;
//   - a node input dropped, duplicated, emptied or rewired to another value; an output dropped,
//     renamed or added; op type or domain swapped; two nodes swapped;
//   - a declared shape or element type (graph input, output, value_info) changed;
//   - a metadata value (input quantizer, output scales, range proof, int4 list, format keys) edited
//     as JSON — one field set to a hostile number, string, null, container, removed or duplicated —
//     or replaced by raw bytes.
// Deterministic: the same bytes give the same model. Missing bytes read as 0, so any n works.
std::string mutate_int_onnx(const std::string& model_bytes, const uint8_t* choices, size_t n);

// Targeted edits for the explicit tests. Each edits the first node of type `op` (Error if the model
// has none) and returns the serialized model.
// Sets (or adds) int attribute `attribute`.
std::string set_int_onnx_attribute(const std::string& model_bytes, const std::string& op, const std::string& attribute,
                                   int64_t value);
// Sets (or adds) ints attribute `attribute`.
std::string set_int_onnx_attribute_ints(const std::string& model_bytes, const std::string& op, const std::string& attribute,
                                        const std::vector<int64_t>& values);
// Element `index` of the initializer feeding input `input` (stored int32, int64 or int8) = value.
std::string set_int_onnx_initializer_element(const std::string& model_bytes, const std::string& op, size_t input,
                                             int64_t index, int64_t value);
// Replaces the dims of that initializer (its data is kept).
std::string set_int_onnx_initializer_dims(const std::string& model_bytes, const std::string& op, size_t input,
                                          const std::vector<int64_t>& dims);
// Removes input `input` of the node.
std::string drop_int_onnx_input(const std::string& model_bytes, const std::string& op, size_t input);
// Sets metadata_props[key] (added if absent).
std::string set_int_onnx_metadata(const std::string& model_bytes, const std::string& key, const std::string& value);
// metadata_props[key] ("" if absent), to edit it as JSON in a test.
std::string int_onnx_metadata(const std::string& model_bytes, const std::string& key);

}  // namespace qvit::testing
