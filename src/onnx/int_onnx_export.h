#pragma once
// The integer-only model as an ONNX file ("qvit.int/1", described in docs/export.md): the IntGraph
// node for node — Q* compute ops in the custom domain "qvit" (version 1) with every parameter an
// int attribute or Int32 initializer, data movement in the default domain (opset 17) — plus the
// boundary (input quantizer, output scales, nonlinear family, the int32 range proof) as JSON in
// metadata_props. Quantized weights are stored narrow (INT8, or two 4-bit values per byte) and
// widened to Int32 on load, so a reloaded model computes bit for bit what the lowering produced.
#include <string>

#include "intgraph/lower.h"

namespace qvit {

inline constexpr const char* kIntOnnxFormat = "qvit.int/1";
inline constexpr const char* kIntOnnxFormatKey = "qvit.format";
inline constexpr const char* kQvitDomain = "qvit";
inline constexpr int64_t kQvitDomainVersion = 1;

// Validates the IntGraph (ops, required attributes, element types), writes it atomically and runs
// the ONNX checker on it first. `producer_info` goes into the model's doc_string (what it was made from).
void save_int_onnx(const LoweredModel& model, const std::string& path, const std::string& producer_info);

// The inverse. Rejects, with one error line naming the file (and node/attribute): a file that is
// not a qvit integer model, an unknown format or qvit domain version, an unknown op, a Q* node
// without a required attribute, a truncated or corrupt file.
// Every attribute, initializer and metadata value is range-checked against what its kernel needs
// (intgraph/int_graph_check.h): a loaded model runs to completion or stops with a qvit::Error.
LoweredModel load_int_onnx(const std::string& path);
// The same from the file's bytes (fuzzing, in-memory round trips); `source` names them in errors.
LoweredModel load_int_onnx_bytes(const std::string& bytes, const std::string& source);

// True if `path` parses as ONNX and says it is a qvit integer model (format key or qvit domain),
// so `qvit eval` can pick the loader; false for float models and unreadable files.
bool is_int_onnx(const std::string& path);

namespace testing {
// Writes a damaged copy of an exported integer model, for the error-path tests (which must not
// include ONNX headers themselves).
enum class IntOnnxDamage {
  DropRequiredAttribute,  // removes the first required attribute of the first Q* node that has one
  QvitDomainVersion,      // imports domain "qvit" at version 2
  FormatVersion,          // "qvit.format" = "qvit.int/99"
  Truncate,               // keeps the first half of the bytes
};
void damage_int_onnx(const std::string& in_path, const std::string& out_path, IntOnnxDamage damage);
}  // namespace testing

}  // namespace qvit
