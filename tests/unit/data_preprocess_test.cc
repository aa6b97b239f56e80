// Image decoding, PIL-exact resizing, torchvision-style cropping and normalization, checked
// against golden outputs of torchvision written by tools/make_preprocess_golden.py.
#include <gtest/gtest.h>

#include "temp_dir.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unistd.h>

#include "data/batch_loader.h"
#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/pil_resize.h"
#include "data/preprocess.h"
#include "util/npy.h"

namespace qvit::data {
namespace {

namespace fs = std::filesystem;

// Parity tolerance against torchvision, in normalized units (one 8-bit level is about 0.017
// after ImageNet normalization). The decoders are the same system libraries as PIL's and the
// resampling reproduces PIL's integer arithmetic, so the measured difference is 0; the margin
// only allows for float32 rounding in the last step.
constexpr double kParityTolerance = 1e-5;

const fs::path kGoldenDir = fs::path(QVIT_TEST_DIR) / "golden" / "preprocess";
const fs::path kImagenetSamples = fs::path(QVIT_SOURCE_DIR).parent_path() / "shared" / "data" / "imagenet-samples";

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

using qvit::test::TempDir;

void write_bytes(const fs::path& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ImageU8 gradient_image(int h, int w, int c) {
  ImageU8 img(h, w, c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) img.at(y, x, k) = static_cast<uint8_t>((x * 7 + y * 13 + k * 50) % 256);
  return img;
}

// ---- size rules -------------------------------------------------------------------------------

TEST(DataPreprocess, ShorterSideResizeTruncatesLikeTorchvision) {
  // torchvision: new_long = int(n * long / short).
  EXPECT_EQ(shorter_side_resize({53, 37}, 24), (ImageSize{34, 24}));   // 34.38 -> 34
  EXPECT_EQ(shorter_side_resize({200, 300}, 24), (ImageSize{24, 36}));
  EXPECT_EQ(shorter_side_resize({375, 500}, 256), (ImageSize{256, 341}));  // 341.33
  EXPECT_EQ(shorter_side_resize({500, 333}, 256), (ImageSize{384, 256}));  // 384.38
  EXPECT_EQ(shorter_side_resize({64, 64}, 28), (ImageSize{28, 28}));
  EXPECT_EQ(shorter_side_resize({3, 1000}, 256), (ImageSize{256, 85333}));
}

TEST(DataPreprocess, CenterCropRoundsHalfToEvenLikePython) {
  ImageU8 img = gradient_image(10, 9, 1);
  // (10 - 7) / 2 = 1.5 -> round() = 2;  (9 - 4) / 2 = 2.5 -> round() = 2.
  ImageU8 crop = center_crop_like_torchvision(img, {7, 4});
  ASSERT_EQ(crop.height, 7);
  ASSERT_EQ(crop.width, 4);
  EXPECT_EQ(crop.at(0, 0, 0), img.at(2, 2, 0));
  // (9 - 2) / 2 = 3.5 -> 4.
  EXPECT_EQ(center_crop_like_torchvision(img, {10, 2}).at(0, 0, 0), img.at(0, 4, 0));
}

TEST(DataPreprocess, CenterCropPadsWithZerosWhenLarger) {
  ImageU8 img(2, 3, 1);
  std::fill(img.pixels.begin(), img.pixels.end(), 200);
  // Width 3 -> 6: pad left 1, right 2; height 2 -> 5: pad top 1, bottom 2.
  ImageU8 out = center_crop_like_torchvision(img, {5, 6});
  ASSERT_EQ(out.height, 5);
  ASSERT_EQ(out.width, 6);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 6; ++x) {
      const bool inside = y >= 1 && y < 3 && x >= 1 && x < 4;
      EXPECT_EQ(out.at(y, x, 0), inside ? 200 : 0) << y << "," << x;
    }
}

// ---- resampling invariants ----------------------------------------------------------------------

TEST(DataPreprocess, ResizeKeepsConstantImagesConstant) {
  for (Interpolation f : {Interpolation::Nearest, Interpolation::Bilinear, Interpolation::Bicubic}) {
    ImageU8 img(37, 53, 3);
    std::fill(img.pixels.begin(), img.pixels.end(), 255);  // bicubic overshoot must clamp, not wrap
    for (auto [h, w] : {std::pair{9, 11}, std::pair{80, 120}, std::pair{37, 20}, std::pair{1, 1}}) {
      ImageU8 out = resize_like_pil(img, h, w, f);
      ASSERT_EQ(out.height, h);
      ASSERT_EQ(out.width, w);
      EXPECT_TRUE(std::all_of(out.pixels.begin(), out.pixels.end(), [](uint8_t v) { return v == 255; }))
          << interpolation_name(f) << " " << h << "x" << w;
    }
  }
}

TEST(DataPreprocess, NearestIntegerUpscaleReplicatesPixels) {
  ImageU8 img = gradient_image(3, 4, 1);
  ImageU8 out = resize_like_pil(img, 6, 8, Interpolation::Nearest);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 8; ++x) EXPECT_EQ(out.at(y, x, 0), img.at(y / 2, x / 2, 0));
}

TEST(DataPreprocess, GrayToLumaMatchesPilFormula) {
  ImageU8 rgb(1, 4, 3);
  const uint8_t px[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 200, 77}};
  for (int x = 0; x < 4; ++x)
    for (int c = 0; c < 3; ++c) rgb.at(0, x, c) = px[x][c];
  ImageU8 gray = convert_channels(rgb, 1);
  EXPECT_EQ(gray.at(0, 0, 0), 76);   // (255 * 19595 + 32768) >> 16
  EXPECT_EQ(gray.at(0, 1, 0), 150);  // (255 * 38470 + 32768) >> 16
  EXPECT_EQ(gray.at(0, 2, 0), 29);   // (255 * 7471 + 32768) >> 16
  EXPECT_EQ(gray.at(0, 3, 0), (10 * 19595 + 200 * 38470 + 77 * 7471 + 0x8000) >> 16);
  ImageU8 back = convert_channels(gray, 3);
  EXPECT_EQ(back.at(0, 3, 0), gray.at(0, 3, 0));
  EXPECT_EQ(back.at(0, 3, 2), gray.at(0, 3, 0));
}

TEST(DataPreprocess, WrongOutputSizeNamesTheImage) {
  PreprocessConfig cfg;
  cfg.channels = 1;
  cfg.height = cfg.width = 28;
  cfg.mean = {0.5};
  cfg.std = {0.5};
  cfg.num_classes = 10;
  Preprocessor pre(cfg);
  std::vector<float> out(static_cast<size_t>(pre.sample_numel()));
  try {
    pre.run(gradient_image(30, 28, 1), out.data(), "some/image.png");
    FAIL() << "expected an error";
  } catch (const qvit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("some/image.png"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("30x28"), std::string::npos) << e.what();
  }
}

// ---- decoding errors ----------------------------------------------------------------------------

void expect_bad_image(const fs::path& path, const std::string& what) {
  try {
    decode_image_file(path, 3);
    FAIL() << "expected BadImageError for " << what;
  } catch (const BadImageError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST(DataPreprocess, CorruptMissingAndTruncatedImagesNameTheFile) {
  TempDir tmp;
  expect_bad_image(tmp.path() / "missing.jpg", "a missing file");

  write_bytes(tmp.path() / "empty.png", {});
  expect_bad_image(tmp.path() / "empty.png", "an empty file");

  const std::string text = "this is not an image";
  write_bytes(tmp.path() / "text.jpg", std::vector<char>(text.begin(), text.end()));
  expect_bad_image(tmp.path() / "text.jpg", "a text file");

  std::vector<char> jpeg = read_bytes(kGoldenDir / "images" / "rgb_300x200.jpg");
  ASSERT_GT(jpeg.size(), 1000u);
  write_bytes(tmp.path() / "truncated.jpg", std::vector<char>(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
  expect_bad_image(tmp.path() / "truncated.jpg", "a JPEG cut in half (libjpeg alone would pad it with gray)");
  write_bytes(tmp.path() / "headers_only.jpg", std::vector<char>(jpeg.begin(), jpeg.begin() + 300));
  expect_bad_image(tmp.path() / "headers_only.jpg", "a JPEG cut inside its headers");

  std::vector<char> png = read_bytes(kGoldenDir / "images" / "rgb_37x53.png");
  write_bytes(tmp.path() / "truncated.png", std::vector<char>(png.begin(), png.begin() + png.size() / 2));
  expect_bad_image(tmp.path() / "truncated.png", "a truncated PNG");

  // The intact file decodes.
  write_bytes(tmp.path() / "whole.jpg", jpeg);
  ImageU8 img = decode_image_file(tmp.path() / "whole.jpg", 3);
  EXPECT_EQ(img.height, 200);
  EXPECT_EQ(img.width, 300);
}

// ---- parity with torchvision ---------------------------------------------------------------------

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

TEST(DataPreprocess, MatchesTorchvisionGoldens) {
  const nlohmann::json manifest = read_json(kGoldenDir / "manifest.json");
  ASSERT_GE(manifest["cases"].size(), 40u);
  std::map<std::string, double> worst_by_config;
  for (const auto& c : manifest["cases"]) {
    const std::string config_file = c["config"], image_file = c["image"], output_file = c["output"];
    SCOPED_TRACE(config_file + " on " + image_file);
    const PreprocessConfig cfg = load_preprocess_config(kGoldenDir / config_file);
    const Preprocessor pre(cfg);
    const Tensor expected = read_npy((kGoldenDir / output_file).string());
    ASSERT_EQ(expected.shape(), pre.sample_shape());
    std::vector<float> actual(static_cast<size_t>(pre.sample_numel()));
    pre.run_file(kGoldenDir / image_file, actual.data());
    const double diff = max_abs_diff(actual.data(), expected.data<float>(), expected.numel());
    EXPECT_LE(diff, kParityTolerance);
    double& worst = worst_by_config[cfg.name];
    worst = std::max(worst, diff);
  }
  for (const auto& [name, diff] : worst_by_config) std::printf("  parity %-22s max |diff| = %g\n", name.c_str(), diff);
}

// All 99 real ImageNet photos (23 grayscale JPEGs, sizes up to 2400x1600) through the standard
// resize-256 / crop-224 pipeline, read as a list dataset and batched on 2 threads: every image's
// output mean, and 1000 sampled values of a few images, must match torchvision.
TEST(DataPreprocess, ImagenetSamplesMatchTorchvisionDigest) {
  if (!fs::is_directory(kImagenetSamples))
    GTEST_SKIP() << kImagenetSamples << " is absent (shared test data); ImageNet parity not checked";
  const nlohmann::json digest = read_json(kGoldenDir / "imagenet_digest.json");
  const PreprocessConfig cfg = load_preprocess_config(kGoldenDir / std::string(digest["config"]));
  auto dataset = open_dataset(kImagenetSamples / "labels.txt", PreprocessConfig(cfg));
  ASSERT_EQ(dataset->size(), 99);
  ASSERT_EQ(digest["mean"].size(), 99u);

  const int64_t numel = dataset->sample_numel();
  const auto& rule = digest["sample_rule"];
  const int64_t count = rule["count"], stride = rule["stride"], offset = rule["offset"];
  BatchLoader loader(*dataset, BatchLoaderOptions{.batch_size = 16, .num_threads = 2});
  Batch batch;
  int64_t seen = 0, compared_samples = 0;
  double worst_mean = 0, worst_sample = 0;
  while (loader.next(batch)) {
    for (int64_t b = 0; b < batch.size(); ++b, ++seen) {
      const std::string name = fs::path(batch.ids[b]).filename().string();
      SCOPED_TRACE(name);
      const float* img = batch.images.data<float>() + b * numel;
      double sum = 0;
      for (int64_t i = 0; i < numel; ++i) sum += img[i];
      ASSERT_TRUE(digest["mean"].contains(name));
      const double mean_diff = std::abs(sum / numel - digest["mean"][name].get<double>());
      EXPECT_LE(mean_diff, 1e-9);
      worst_mean = std::max(worst_mean, mean_diff);
      if (digest["sampled"].contains(name)) {
        const Tensor expected = read_npy((kGoldenDir / std::string(digest["sampled"][name])).string());
        ASSERT_EQ(expected.numel(), count);
        for (int64_t k = 0; k < count; ++k) {
          const double d = std::abs(img[(k * stride + offset) % numel] - expected.data<float>()[k]);
          worst_sample = std::max(worst_sample, d);
        }
        ++compared_samples;
      }
    }
  }
  EXPECT_EQ(seen, 99);
  EXPECT_GE(compared_samples, 4);
  EXPECT_LE(worst_sample, kParityTolerance);
  EXPECT_EQ(loader.num_skipped(), 0);
  std::printf("  imagenet-samples: 99 images, max |mean diff| = %g, max |diff| on %lld sampled images = %g\n",
              worst_mean, static_cast<long long>(compared_samples), worst_sample);
}

}  // namespace
}  // namespace qvit::data
