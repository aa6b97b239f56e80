// One libFuzzer target per surface: this file is compiled once per surface with
// QVIT_FUZZ_SURFACE naming it (tests/fuzz/CMakeLists.txt). An input that ends in anything but
// success or qvit::Error escapes the surface's entry point and libFuzzer reports it as a crash.
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_surfaces.h"

namespace {
const qvit::fuzz::Surface* surface = nullptr;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  qvit::fuzz::init_harness();
  surface = qvit::fuzz::find_surface(QVIT_FUZZ_SURFACE);
  if (!surface) {
    std::fprintf(stderr, "unknown fuzz surface %s\n", QVIT_FUZZ_SURFACE);
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  surface->run(data, size);
  return 0;
}
