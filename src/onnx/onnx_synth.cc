#include "onnx/onnx_synth.h"

#include <onnx/onnx_pb.h>

#include <algorithm>

#include "onnx/onnx_proto_util.h"

namespace qvit {
namespace {

void write_initializer(const SynthInitializer& init, onnx::TensorProto* p) {
  onnx_util::tensor_to_proto(init.value, init.name, p);
  if (init.declared_dims) {
    p->clear_dims();
    for (int64_t d : *init.declared_dims) p->add_dims(d);
  }
  if (init.omit_data) p->clear_raw_data();
}

void write_input(const SynthInput& in, onnx::ValueInfoProto* vi) {
  vi->set_name(in.name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx_util::proto_elem_type(in.dtype));
  if (!in.has_shape) return;
  auto* shape = tt->mutable_shape();
  for (const auto& d : in.dims) {
    auto* dim = shape->add_dim();
    if (d) dim->set_dim_value(*d);
    else dim->set_dim_param("N");
  }
}

}  // namespace

std::string synth_onnx_bytes(const SynthModel& m) {
  onnx::ModelProto model;
  model.set_ir_version(m.ir_version);
  model.set_producer_name("qvit-synth");
  if (m.opset >= 0) {
    auto* op = model.add_opset_import();
    op->set_domain("");
    op->set_version(m.opset);
  }
  for (const auto& [domain, version] : m.extra_opsets) {
    auto* op = model.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
  }
  auto* g = model.mutable_graph();
  g->set_name("synth");
  for (const auto& in : m.inputs) write_input(in, g->add_input());
  const bool init_inputs = m.initializers_as_inputs.value_or(m.ir_version < 4);
  for (const auto& init : m.initializers) {
    write_initializer(init, g->add_initializer());
    if (init_inputs) {
      SynthInput in{init.name, init.value.dtype(), {}, true};
      for (int64_t d : init.declared_dims.value_or(init.value.shape())) in.dims.emplace_back(d);
      write_input(in, g->add_input());
    }
  }
  for (const auto& n : m.nodes) {
    auto* np = g->add_node();
    np->set_op_type(n.op_type);
    if (!n.name.empty()) np->set_name(n.name);
    if (!n.domain.empty()) np->set_domain(n.domain);
    for (const auto& i : n.inputs) np->add_input(i);
    for (const auto& o : n.outputs) np->add_output(o);
    for (const auto& [key, value] : n.attrs) onnx_util::attr_to_proto(key, value, np->add_attribute(), "synth");
  }
  for (const auto& o : m.outputs) {
    auto* vi = g->add_output();
    vi->set_name(o.name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx_util::proto_elem_type(o.dtype));
    auto* shape = tt->mutable_shape();
    if (o.shape)
      for (int64_t d : *o.shape) shape->add_dim()->set_dim_value(d);
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error("synth: cannot serialize the model (over 2 GB?)");
  return bytes;
}

SynthModel single_node_model(const std::string& op_type, const std::vector<Tensor>& inputs,
                             const std::map<std::string, AttrValue>& attrs, size_t num_outputs,
                             const std::vector<size_t>& graph_inputs, int64_t opset) {
  SynthModel m;
  m.opset = opset;
  SynthNode node;
  node.op_type = op_type;
  node.name = op_type + "_node";
  node.attrs = attrs;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].defined()) {
      node.inputs.emplace_back();
      continue;
    }
    const std::string name = "in" + std::to_string(k);
    node.inputs.push_back(name);
    if (std::find(graph_inputs.begin(), graph_inputs.end(), k) != graph_inputs.end()) {
      SynthInput in{name, inputs[k].dtype(), {}, true};
      for (int64_t d : inputs[k].shape()) in.dims.emplace_back(d);
      m.inputs.push_back(std::move(in));
    } else {
      m.initializers.push_back({name, inputs[k], std::nullopt, false});
    }
  }
  for (size_t k = 0; k < num_outputs; ++k) {
    node.outputs.push_back("out" + std::to_string(k));
    m.outputs.push_back({node.outputs.back(), DType::Float32, std::nullopt});
  }
  m.nodes.push_back(std::move(node));
  return m;
}

}  // namespace qvit
