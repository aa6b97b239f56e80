// Corpus replay: every file under tests/golden/fuzz/<surface>/ — the seeds of the fuzz targets and
// every input a fuzzer found that crashed, hung or escaped with another exception (minimized, then
// fixed) — goes through its surface's entry point and must end in success or qvit::Error. Runs in
// the ordinary suite and the sanitizer job, so a fixed defect cannot come back unnoticed.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "fuzz/fuzz_surfaces.h"
#include "util/limits.h"

namespace fs = std::filesystem;

namespace {

const fs::path kCorpusRoot = fs::path(QVIT_TEST_DIR) / "golden" / "fuzz";

std::vector<fs::path> corpus_files(const std::string& surface) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(kCorpusRoot / surface, ec))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

class FuzzCorpusReplay : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    saved_limits_ = qvit::resource_limits();
    saved_level_ = spdlog::get_level();
    qvit::fuzz::init_harness();
  }
  void TearDown() override {
    qvit::set_resource_limits(saved_limits_);
    spdlog::set_level(saved_level_);
  }

 private:
  qvit::ResourceLimits saved_limits_;
  spdlog::level::level_enum saved_level_ = spdlog::level::info;
};

TEST_P(FuzzCorpusReplay, EveryFileSucceedsOrIsOneError) {
  const qvit::fuzz::Surface* surface = qvit::fuzz::find_surface(GetParam());
  ASSERT_NE(surface, nullptr);
  const std::vector<fs::path> files = corpus_files(GetParam());
  ASSERT_FALSE(files.empty()) << "no corpus under " << (kCorpusRoot / GetParam());
  for (const fs::path& file : files) {
    const std::vector<uint8_t> bytes = read_bytes(file);
    try {
      surface->run(bytes.data(), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << file << ": escaped with " << typeid(e).name() << ": " << e.what();
    } catch (...) {
      ADD_FAILURE() << file << ": escaped with a non-standard exception";
    }
  }
}

std::vector<std::string> surface_names() {
  std::vector<std::string> names;
  for (const auto& s : qvit::fuzz::surfaces()) names.push_back(s.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Surfaces, FuzzCorpusReplay, ::testing::ValuesIn(surface_names()),
                         [](const auto& info) { return info.param; });

TEST(FuzzCorpus, EveryFolderNamesASurface) {
  std::set<std::string> known;
  for (const auto& s : qvit::fuzz::surfaces()) known.insert(s.name);
  for (const auto& e : fs::directory_iterator(kCorpusRoot))
    EXPECT_TRUE(known.count(e.path().filename().string())) << e.path() << " is not a fuzz surface";
}

}  // namespace
