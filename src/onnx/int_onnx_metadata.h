#pragma once
// The boundary of an integer model as .int.onnx metadata_props (docs/export.md): the input
// quantizer, the output scales, the nonlinear family, the int32 range proof, and which weights are
// packed int4. Internal to src/onnx/ (int_onnx_export.cc writes and reads it).
#include <onnx/onnx_pb.h>

#include <map>
#include <string>

#include "intgraph/lower.h"

namespace qvit::onnx_util {

void add_boundary_metadata(onnx::ModelProto& m, const LoweredModel& lm);

// Reads and checks the boundary into `lm` (whose graph is already loaded and validated): every
// field of the expected kind and range, nothing unknown, and consistent with the graph (one output
// entry per graph output, per-channel scales one per channel of the declared output, a range proof
// whose records are finite and agree with their fits_int32 flag). One Error line naming `path`,
// the metadata key and the field.
void read_boundary_metadata(const onnx::ModelProto& m, const std::string& path, LoweredModel& lm);

// The same consistency checks on a model about to be saved (export refuses what load would).
void check_boundary(const LoweredModel& lm, const std::string& source);

// Initializer name → unpacked shape of the packed int4 weights (empty if the key is absent).
std::map<std::string, Shape> read_int4_metadata(const onnx::ModelProto& m, const std::string& key, const std::string& path);

}  // namespace qvit::onnx_util
