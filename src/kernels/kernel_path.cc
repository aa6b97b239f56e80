#include "kernels/kernel_path.h"

#include <atomic>
#include <cstdlib>

#include "kernels/cpu_features.h"
#include "util/error.h"

namespace qvit::kernels {

namespace {

constexpr KernelPath kAllPaths[] = {KernelPath::Ref, KernelPath::Plain, KernelPath::Avx2, KernelPath::Avx2Vnni,
                                    KernelPath::Avx512};

std::string missing_features(KernelPath p) {
  const CpuFeatures& f = cpu_features();
  std::string missing;
  auto need = [&](bool have, const char* name) {
    if (!have) missing += std::string(missing.empty() ? "" : ", ") + name;
  };
  switch (p) {
    case KernelPath::Ref:
    case KernelPath::Plain:
      break;
    case KernelPath::Avx512:
      need(f.avx512f, "avx512f");
      need(f.avx512bw, "avx512bw");
      need(f.avx512vl, "avx512vl");
      need(f.avx512dq, "avx512dq");
      need(f.avx512_vnni, "avx512vnni");
      [[fallthrough]];
    case KernelPath::Avx2:
      need(f.avx2, "avx2");
      need(f.fma, "fma");
      break;
    case KernelPath::Avx2Vnni:
      need(f.avx2, "avx2");
      need(f.fma, "fma");
      need(f.avx_vnni, "avxvnni");
      break;
  }
  return missing;
}

KernelPath initial_path() {
  if (const char* env = std::getenv("QVIT_KERNELS"); env && *env) {
    const std::string_view name(env);
    if (name != "auto") {
      const auto p = parse_kernel_path(name);
      if (!p) throw Error("QVIT_KERNELS=" + std::string(name) + ": unknown kernel path (auto, ref, plain, avx2, avx2vnni, avx512)");
      if (!kernel_path_supported(*p))
        throw Error("QVIT_KERNELS=" + std::string(name) + ": this CPU lacks " + missing_features(*p));
      return *p;
    }
  }
  return best_kernel_path();
}

std::atomic<int>& current() {
  static std::atomic<int> path{-1};
  return path;
}

}  // namespace

const char* kernel_path_name(KernelPath p) {
  switch (p) {
    case KernelPath::Ref: return "ref";
    case KernelPath::Plain: return "plain";
    case KernelPath::Avx2: return "avx2";
    case KernelPath::Avx2Vnni: return "avx2vnni";
    case KernelPath::Avx512: return "avx512";
  }
  return "?";
}

std::optional<KernelPath> parse_kernel_path(std::string_view name) {
  for (KernelPath p : kAllPaths)
    if (name == kernel_path_name(p)) return p;
  return std::nullopt;
}

bool kernel_path_supported(KernelPath p) {
#if !(defined(__x86_64__) || defined(__i386__))
  if (p != KernelPath::Ref && p != KernelPath::Plain) return false;
#endif
  return missing_features(p).empty();
}

std::vector<KernelPath> supported_kernel_paths() {
  std::vector<KernelPath> paths;
  for (KernelPath p : kAllPaths)
    if (kernel_path_supported(p)) paths.push_back(p);
  return paths;
}

KernelPath best_kernel_path() {
  for (KernelPath p : {KernelPath::Avx512, KernelPath::Avx2Vnni, KernelPath::Avx2})
    if (kernel_path_supported(p)) return p;
  return KernelPath::Plain;
}

KernelPath active_kernel_path() {
  int p = current().load(std::memory_order_relaxed);
  if (p < 0) {
    // First use: QVIT_KERNELS or auto (an invalid QVIT_KERNELS throws here, on every call, until
    // a valid selection is made).
    const int initial = static_cast<int>(initial_path());
    current().compare_exchange_strong(p, initial);
    p = current().load(std::memory_order_relaxed);
  }
  return static_cast<KernelPath>(p);
}

void select_kernel_path(std::string_view name) {
  if (name == "auto") {
    set_kernel_path(best_kernel_path());
    return;
  }
  const auto p = parse_kernel_path(name);
  if (!p) throw Error("--kernels " + std::string(name) + ": unknown kernel path (auto, ref, plain, avx2, avx2vnni, avx512)");
  if (!kernel_path_supported(*p)) throw Error("--kernels " + std::string(name) + ": this CPU lacks " + missing_features(*p));
  set_kernel_path(*p);
}

void set_kernel_path(KernelPath p) {
  if (!kernel_path_supported(p)) throw Error(std::string("kernel path ") + kernel_path_name(p) + " is not supported by this CPU");
  current().store(static_cast<int>(p), std::memory_order_relaxed);
}

ScopedKernelPath::ScopedKernelPath(KernelPath p) : previous_(active_kernel_path()) { set_kernel_path(p); }
ScopedKernelPath::~ScopedKernelPath() { current().store(static_cast<int>(previous_), std::memory_order_relaxed); }

}  // namespace qvit::kernels
