#pragma once
// What the CPU this process runs on can execute, detected once (cpuid; the OS-enabled register
// state is part of the check). Kernel paths (kernel_path.h) are chosen from it.
namespace qvit::kernels {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx_vnni = false;     // VEX-encoded vpdpbusd on ymm (Alder Lake, Zen 5, Sapphire Rapids)
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512_vnni = false;  // EVEX vpdpbusd on zmm (Cascade Lake, Ice Lake, Zen 4)
};

const CpuFeatures& cpu_features();

}  // namespace qvit::kernels
