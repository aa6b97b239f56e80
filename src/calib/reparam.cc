#include "calib/reparam.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace qvit {

LayerNormReparam compute_reparam(const std::vector<Range>& channel_ranges, int bits, double clip_k) {
  const size_t C = channel_ranges.size();
  QVIT_CHECK(C > 0, "no channels");
  std::vector<double> s(C), z(C);
  for (size_t c = 0; c < C; ++c) {
    const QuantParams p = params_for_range(channel_ranges[c].lo, channel_ranges[c].hi, bits, QuantScheme::Asymmetric);
    s[c] = p.scale;
    z[c] = p.zero_point;
  }
  auto mean_std = [](const std::vector<double>& v) {
    const double m = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    double var = 0;
    for (double x : v) var += (x - m) * (x - m);
    return std::pair{m, std::sqrt(var / static_cast<double>(v.size()))};
  };
  if (clip_k > 0) {
    // CRL (LRP-QViT): a few outlier channels must not stretch the shared range.
    const auto [ms, ss] = mean_std(s);
    const auto [mz, sz] = mean_std(z);
    const double qmax = std::ldexp(1.0, bits) - 1;
    for (size_t c = 0; c < C; ++c) {
      s[c] = std::clamp(s[c], std::max(ms - clip_k * ss, 1e-8), ms + clip_k * ss);
      z[c] = std::clamp(std::round(std::clamp(z[c], mz - clip_k * sz, mz + clip_k * sz)), 0.0, qmax);
    }
  }
  const double s_target = mean_std(s).first;
  const double z_target = std::round(mean_std(z).first);
  LayerNormReparam r;
  r.r1.resize(C);
  r.offset.resize(C);
  for (size_t c = 0; c < C; ++c) {
    r.r1[c] = static_cast<float>(s[c] / s_target);
    r.offset[c] = static_cast<float>(s[c] * (z[c] - z_target));
  }
  return r;
}

namespace {
int node_by_name(const Graph& g, const std::string& name, const char* op) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name == name) {
      if (g.nodes[i].op != op) throw Error(g.source + ": node '" + name + "' is " + g.nodes[i].op + ", calibration expects " + op);
      return static_cast<int>(i);
    }
  throw Error(g.source + ": calibration refers to node '" + name + "', which this model does not have");
}
}  // namespace

void apply_reparam(Graph& g, const LayerNormReparam& r) {
  const int ln = node_by_name(g, r.layernorm, "LayerNorm");
  const size_t C = r.r1.size();
  {
    Node& n = g.nodes[ln];
    Tensor gamma = g.constant(n.inputs[1]), beta = g.constant(n.inputs[2]);
    if (static_cast<size_t>(gamma.numel()) != C || static_cast<size_t>(beta.numel()) != C)
      throw Error(g.source + ": " + n.describe() + ": reparameterization has " + std::to_string(C) + " channels, the LayerNorm " +
                  std::to_string(gamma.numel()));
    for (size_t c = 0; c < C; ++c) {
      gamma.data<float>()[c] /= r.r1[c];
      beta.data<float>()[c] = (beta.data<float>()[c] + r.offset[c]) / r.r1[c];
    }
    const std::string name = n.name;
    const int gi = g.add_constant(name + ".weight.reparam", std::move(gamma));
    const int bi = g.add_constant(name + ".bias.reparam", std::move(beta));
    g.nodes[ln].inputs[1] = gi;
    g.nodes[ln].inputs[2] = bi;
  }
  for (const auto& consumer : r.consumers) {
    const int li = node_by_name(g, consumer, "Linear");
    const Node& n = g.nodes[li];
    Tensor w = g.constant(n.inputs[1]);
    const int64_t K = w.shape()[0], N = w.shape()[1];
    if (static_cast<size_t>(K) != C) throw Error(g.source + ": " + n.describe() + ": input width " + std::to_string(K) + " ≠ " + std::to_string(C));
    Tensor b = n.inputs.size() > 2 && n.inputs[2] >= 0 ? g.constant(n.inputs[2]) : Tensor(DType::Float32, {N});
    // b' = b − Σ_c W[c,:]·offset_c (with the original W), then W'[c,:] = r1_c·W[c,:].
    for (int64_t c = 0; c < K; ++c)
      for (int64_t j = 0; j < N; ++j) {
        b.data<float>()[j] -= w.data<float>()[c * N + j] * r.offset[c];
        w.data<float>()[c * N + j] *= r.r1[c];
      }
    const std::string name = n.name;
    const int wi = g.add_constant(name + ".weight.reparam", std::move(w));
    const int bi = g.add_constant(name + ".bias.reparam", std::move(b));
    Node& m = g.nodes[li];
    m.inputs.resize(3);
    m.inputs[1] = wi;
    m.inputs[2] = bi;
  }
  g.rebuild_index();
}

}  // namespace qvit
