#include "util/npy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace qvit {
namespace {

TEST(Npy, RoundTripAndErrors) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string path = (dir / "qvit_npy_test.npy").string();
  Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6.5f});
  write_npy(path, t);
  Tensor r = read_npy(path);
  EXPECT_EQ(r.shape(), t.shape());
  EXPECT_EQ(r.data<float>()[5], 6.5f);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  EXPECT_THROW(read_npy(path), Error);
  std::ofstream(path) << "garbage";
  EXPECT_THROW(read_npy(path), Error);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace qvit
