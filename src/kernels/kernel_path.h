#pragma once
// Which implementation of the integer kernels runs. Every optimized kernel is paired by name with
// its reference (kernels/reference/x.cc ↔ kernels/x86/x_avx2.cc, x_avx512.cc) and equals it bit
// for bit, truncation counts included; the path only changes speed.
//
//   ref       the reference kernels: the definition of correct (int32, scalar, unthreaded)
//   plain     portable C++ optimized kernels (any CPU): int8 storage, packed GEMM, threads
//   avx2      AVX2 + FMA
//   avx2vnni  AVX2 with AVX-VNNI's vpdpbusd for the int8 GEMM
//   avx512    AVX-512 F/BW/VL/DQ + VNNI
//
// "auto" is the best path the CPU supports. The selection is process-wide: `--kernels` on the CLI,
// else the QVIT_KERNELS environment variable, else auto.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qvit::kernels {

enum class KernelPath { Ref, Plain, Avx2, Avx2Vnni, Avx512 };

const char* kernel_path_name(KernelPath p);
// "ref", "plain", "avx2", "avx2vnni", "avx512"; nullopt for anything else ("auto" included).
std::optional<KernelPath> parse_kernel_path(std::string_view name);
bool kernel_path_supported(KernelPath p);
// Every path this CPU can run, ref first: what the bit-exactness tests force one by one.
std::vector<KernelPath> supported_kernel_paths();
KernelPath best_kernel_path();

// The path the integer runtime uses now: the last selection, else QVIT_KERNELS, else auto.
KernelPath active_kernel_path();
// Selects "auto" or a path by name. Throws qvit::Error naming the choices for an unknown name, and
// the missing CPU features for a path this CPU cannot run.
void select_kernel_path(std::string_view name);
void set_kernel_path(KernelPath p);  // p must be supported

// Sets a path for a scope and restores the previous one (tests forcing each path).
class ScopedKernelPath {
 public:
  explicit ScopedKernelPath(KernelPath p);
  ~ScopedKernelPath();
  ScopedKernelPath(const ScopedKernelPath&) = delete;
  ScopedKernelPath& operator=(const ScopedKernelPath&) = delete;

 private:
  KernelPath previous_;
};

// True from the avx2 path up (the x86 SIMD kernels of kernels/x86/).
inline bool uses_avx2(KernelPath p) { return p == KernelPath::Avx2 || p == KernelPath::Avx2Vnni || p == KernelPath::Avx512; }

}  // namespace qvit::kernels
