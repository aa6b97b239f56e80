#include "ir/graph.h"

#include <algorithm>
#include <set>

namespace qvit {

namespace {
template <class T>
const T* find_attr(const Node& n, const std::string& key) {
  auto it = n.attrs.find(key);
  if (it == n.attrs.end()) return nullptr;
  const T* v = std::get_if<T>(&it->second);
  if (!v) throw Error(n.describe() + ": attribute '" + key + "' has the wrong type");
  return v;
}
}  // namespace

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  const auto* v = find_attr<int64_t>(*this, key);
  return v ? *v : fallback;
}

int64_t Node::attr_int(const std::string& key) const {
  const auto* v = find_attr<int64_t>(*this, key);
  if (!v) throw Error(describe() + ": missing required attribute '" + key + "'");
  return *v;
}

float Node::attr_float(const std::string& key, float fallback) const {
  const auto* v = find_attr<float>(*this, key);
  return v ? *v : fallback;
}

std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  const auto* v = find_attr<std::string>(*this, key);
  return v ? *v : fallback;
}

std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  const auto* v = find_attr<std::vector<int64_t>>(*this, key);
  return v ? *v : fallback;
}

const Tensor& Node::attr_tensor(const std::string& key) const {
  const auto* v = find_attr<Tensor>(*this, key);
  if (!v) throw Error(describe() + ": missing required attribute '" + key + "'");
  return *v;
}

std::string Node::describe() const { return "node '" + name + "' (" + op + ")"; }

int Graph::add_value(Value v) {
  int id = static_cast<int>(values.size());
  if (!v.name.empty()) by_name_[v.name] = id;
  values.push_back(std::move(v));
  return id;
}

int Graph::add_constant(std::string name, Tensor t) {
  Value v;
  v.name = std::move(name);
  v.dtype = t.dtype();
  v.shape = t.shape();
  v.constant = std::move(t);
  return add_value(std::move(v));
}

int Graph::find_value(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

const Tensor& Graph::constant(int id) const {
  QVIT_CHECK(is_constant(id), "value is not a constant: " + (id >= 0 ? values[id].name : std::string("<none>")));
  return *values[static_cast<size_t>(id)].constant;
}

void Graph::rebuild_index() {
  consumers_.assign(values.size(), {});
  for (auto& v : values) v.producer = -1;
  by_name_.clear();
  for (size_t i = 0; i < values.size(); ++i)
    if (!values[i].name.empty()) by_name_[values[i].name] = static_cast<int>(i);
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (int in : nodes[n].inputs)
      if (in >= 0) consumers_[in].push_back(static_cast<int>(n));
    for (int out : nodes[n].outputs) values[out].producer = static_cast<int>(n);
  }
}

const std::vector<int>& Graph::consumers(int id) const {
  static const std::vector<int> none;
  if (id < 0 || static_cast<size_t>(id) >= consumers_.size()) return none;
  return consumers_[id];
}

void Graph::remove_dead_nodes() {
  std::vector<char> live(values.size(), 0);
  for (int o : outputs) live[o] = 1;
  std::vector<char> keep(nodes.size(), 0);
  for (int n = static_cast<int>(nodes.size()) - 1; n >= 0; --n) {
    bool needed = std::any_of(nodes[n].outputs.begin(), nodes[n].outputs.end(), [&](int o) { return live[o]; });
    if (!needed) continue;
    keep[n] = 1;
    for (int in : nodes[n].inputs)
      if (in >= 0) live[in] = 1;
  }
  std::vector<Node> kept;
  for (size_t n = 0; n < nodes.size(); ++n)
    if (keep[n]) kept.push_back(std::move(nodes[n]));
  nodes = std::move(kept);
  for (int i : inputs) live[i] = 1;
  // Free the data of constants nobody reads any more (values stay so ids remain stable).
  for (size_t v = 0; v < values.size(); ++v)
    if (!live[v] && values[v].constant) values[v].constant.reset();
  rebuild_index();
}

int64_t Graph::parameter_count() const {
  std::set<int> params;
  for (const auto& n : nodes)
    for (int in : n.inputs)
      if (is_constant(in) && values[in].dtype == DType::Float32 && values[in].constant->numel() > 1) params.insert(in);
  int64_t count = 0;
  for (int p : params) count += values[p].constant->numel();
  return count;
}

}  // namespace qvit
