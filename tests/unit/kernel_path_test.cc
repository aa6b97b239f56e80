// Kernel path selection (kernels/kernel_path.h): names, CPU support, forcing and restoring.
#include "kernels/kernel_path.h"

#include <gtest/gtest.h>

#include "kernels/cpu_features.h"
#include "util/error.h"

namespace qvit::kernels {
namespace {

TEST(KernelPath, NamesRoundTrip) {
  for (KernelPath p : {KernelPath::Ref, KernelPath::Plain, KernelPath::Avx2, KernelPath::Avx2Vnni, KernelPath::Avx512})
    EXPECT_EQ(parse_kernel_path(kernel_path_name(p)), p);
  EXPECT_FALSE(parse_kernel_path("auto"));
  EXPECT_FALSE(parse_kernel_path("AVX512"));
  EXPECT_FALSE(parse_kernel_path(""));
}

TEST(KernelPath, RefAndPlainRunEverywhereAndAutoIsTheBestSupported) {
  const auto paths = supported_kernel_paths();
  ASSERT_GE(paths.size(), 2u);
  EXPECT_EQ(paths[0], KernelPath::Ref);
  EXPECT_EQ(paths[1], KernelPath::Plain);
  EXPECT_TRUE(kernel_path_supported(best_kernel_path()));
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(kernel_path_supported(KernelPath::Avx512), f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq &&
                                                           f.avx512_vnni && f.avx2 && f.fma);
  if (kernel_path_supported(KernelPath::Avx512)) {
    EXPECT_EQ(best_kernel_path(), KernelPath::Avx512);
  }
}

TEST(KernelPath, ScopedSelectionRestores) {
  const KernelPath before = active_kernel_path();
  {
    ScopedKernelPath ref(KernelPath::Ref);
    EXPECT_EQ(active_kernel_path(), KernelPath::Ref);
    {
      ScopedKernelPath plain(KernelPath::Plain);
      EXPECT_EQ(active_kernel_path(), KernelPath::Plain);
    }
    EXPECT_EQ(active_kernel_path(), KernelPath::Ref);
  }
  EXPECT_EQ(active_kernel_path(), before);
}

TEST(KernelPath, BadSelectionsNameTheChoicesOrTheMissingFeatures) {
  const KernelPath before = active_kernel_path();
  try {
    select_kernel_path("sse9");
    FAIL() << "accepted an unknown path";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("auto, ref, plain"), std::string::npos) << e.what();
  }
  for (KernelPath p : {KernelPath::Avx2, KernelPath::Avx2Vnni, KernelPath::Avx512}) {
    if (kernel_path_supported(p)) continue;
    try {
      select_kernel_path(kernel_path_name(p));
      FAIL() << "accepted unsupported " << kernel_path_name(p);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("lacks"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(active_kernel_path(), before);
  select_kernel_path("auto");
  EXPECT_EQ(active_kernel_path(), best_kernel_path());
  set_kernel_path(before);
}

}  // namespace
}  // namespace qvit::kernels
