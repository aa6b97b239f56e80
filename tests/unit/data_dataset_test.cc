// Datasets (image folder, list file, IDX), open_dataset's detection, BatchLoader and subsets.
#include <gtest/gtest.h>

#include "temp_dir.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <zlib.h>

#include "data/batch_loader.h"
#include "data/dataset.h"
#include "data/idx_dataset.h"
#include "data/idx_file.h"
#include "data/image.h"
#include "data/image_folder.h"
#include "data/image_list.h"
#include "data/subset.h"

namespace qvit::data {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenImages = fs::path(QVIT_TEST_DIR) / "golden" / "preprocess" / "images";
const fs::path kFashionMnist = "/usr/share/datasets/fashion-mnist";
const fs::path kMnist = fs::path(QVIT_SOURCE_DIR).parent_path() / "shared" / "data" / "mnist";

using qvit::test::TempDir;

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// IDX bytes: magic 00 00 08 <rank>, big-endian dims, then data.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims) out += be32(d);
  return out + data;
}

// n images of rows x cols; pixel (i, p) = (i * 40 + p) % 256; labels i % 3.
void write_idx_split(const fs::path& dir, const std::string& split, int n, int rows, int cols, bool gz) {
  std::string pixels, labels;
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < rows * cols; ++p) pixels += static_cast<char>((i * 40 + p) % 256);
    labels += static_cast<char>(i % 3);
  }
  const std::string suffix = gz ? ".gz" : "";
  const std::string images = idx_bytes({uint32_t(n), uint32_t(rows), uint32_t(cols)}, pixels);
  const std::string label_bytes = idx_bytes({uint32_t(n)}, labels);
  if (gz) {
    write_gz(dir / (split + "-images-idx3-ubyte.gz"), images);
    write_gz(dir / (split + "-labels-idx1-ubyte.gz"), label_bytes);
  } else {
    write_file(dir / (split + "-images-idx3-ubyte"), images);
    write_file(dir / (split + "-labels-idx1-ubyte"), label_bytes);
  }
}

PreprocessConfig gray_config(int h, int w, int num_classes = 10) {
  PreprocessConfig cfg;
  cfg.channels = 1;
  cfg.height = h;
  cfg.width = w;
  cfg.mean = {0.5};
  cfg.std = {0.25};
  cfg.num_classes = num_classes;
  return cfg;
}

PreprocessConfig rgb_config(int side, int num_classes = 10) {
  PreprocessConfig cfg;
  cfg.channels = 3;
  cfg.height = cfg.width = side;
  cfg.resize = side;
  cfg.center_crop = CropSize{side, side};
  cfg.mean = {0.485, 0.456, 0.406};
  cfg.std = {0.229, 0.224, 0.225};
  cfg.num_classes = num_classes;
  return cfg;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const qvit::Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_ERROR_HAS(expr, text)                                   \
  do {                                                                 \
    const std::string msg_ = error_of([&] { (void)(expr); });          \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_; \
  } while (0)

// ---- IDX ---------------------------------------------------------------------------------------

TEST(DataIdx, ReadsPlainAndGzippedFiles) {
  TempDir tmp;
  write_idx_split(tmp.path() / "plain", "t10k", 5, 4, 3, false);
  write_idx_split(tmp.path() / "gz", "t10k", 5, 4, 3, true);
  for (const char* sub : {"plain", "gz"}) {
    SCOPED_TRACE(sub);
    auto ds = open_dataset(tmp.path() / sub, gray_config(4, 3));
    ASSERT_EQ(ds->size(), 5);
    EXPECT_EQ(ds->label(4), 1);
    EXPECT_EQ(ds->sample_shape(), (Shape{1, 4, 3}));
    EXPECT_NE(ds->id(2).find("idx:"), std::string::npos);
    EXPECT_NE(ds->id(2).find("t10k-images-idx3-ubyte"), std::string::npos);
    EXPECT_EQ(ds->id(2).substr(ds->id(2).size() - 2), "#2");
    std::vector<float> px(12);
    ds->load(2, px.data());
    for (int p = 0; p < 12; ++p) {
      const float u = static_cast<float>((2 * 40 + p) % 256);
      EXPECT_EQ(px[p], (u / 255.0f - 0.5f) / 0.25f);
    }
  }
}

TEST(DataIdx, ThreeChannelConfigReplicatesGray) {
  TempDir tmp;
  write_idx_split(tmp.path(), "train", 2, 4, 3, false);
  PreprocessConfig cfg = gray_config(4, 3);
  cfg.channels = 3;
  cfg.mean = {0.1, 0.2, 0.3};
  cfg.std = {1, 1, 1};
  cfg.layout = Layout::NHWC;
  auto ds = open_dataset(tmp.path(), cfg);
  ASSERT_EQ(ds->sample_shape(), (Shape{4, 3, 3}));
  std::vector<float> px(36);
  ds->load(1, px.data());
  for (int p = 0; p < 12; ++p)
    for (int c = 0; c < 3; ++c) {
      const float u = static_cast<float>((40 + p) % 256) / 255.0f;
      EXPECT_EQ(px[p * 3 + c], u - static_cast<float>(cfg.mean[c]));
    }
}

TEST(DataIdx, CorruptFilesAreClearErrors) {
  TempDir tmp;
  const fs::path f = tmp.path() / "x-images-idx3-ubyte";
  const std::string good_header = idx_bytes({2, 2, 2}, "");
  struct Case {
    std::string bytes;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"", "truncated IDX header"},
      {std::string("\x00\x00\x08", 3), "truncated IDX header"},
      {std::string("\x1f\x00\x08\x03", 4) + be32(1) + be32(1) + be32(1) + "x", "not an IDX file"},
      {std::string("\x00\x00\x0d\x03", 4) + be32(1) + be32(1) + be32(1) + "abcd", "element type 0x0d"},
      {idx_bytes({8}, "12345678"), "has 1 dimensions, expected 3"},
      {good_header.substr(0, 10), "truncated IDX header"},
      {idx_bytes({2, 0, 2}, ""), "dimension 1 is zero"},
      {idx_bytes({2, 2, 2}, "1234567"), "truncated: the header announces 8 bytes of data, the file has 7"},
      {idx_bytes({2, 2, 2}, "123456789"), "1 unexpected bytes"},
  };
  for (const auto& c : cases) {
    write_file(f, c.bytes);
    const std::string msg = error_of([&] { read_idx_u8(f, 3); });
    EXPECT_EQ(msg.rfind(f.string() + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos) << "expected \"" << c.expected << "\" in: " << msg;
  }

  // A gzip stream cut short, and gzip data with garbage in the middle.
  std::string payload = idx_bytes({50, 8, 8}, std::string(50 * 64, '\x07'));
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] + (i * 7919 % 13));
  const fs::path gz = tmp.path() / "y-images-idx3-ubyte.gz";
  write_gz(gz, payload);
  std::ifstream in(gz, std::ios::binary);
  std::string compressed{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  write_file(gz, compressed.substr(0, compressed.size() / 2));
  EXPECT_ERROR_HAS(read_idx_u8(gz, 3), "gzip");
  std::string garbled = compressed;
  for (size_t i = 20; i < 60 && i < garbled.size(); ++i) garbled[i] = static_cast<char>(~garbled[i]);
  write_file(gz, garbled);
  EXPECT_ERROR_HAS(read_idx_u8(gz, 3), gz.string());

  EXPECT_ERROR_HAS(read_idx_u8(tmp.path() / "absent-images-idx3-ubyte", 3), "absent-images-idx3-ubyte");
}

TEST(DataIdx, MismatchedOrOutOfRangeLabels) {
  TempDir tmp;
  write_file(tmp.path() / "a" / "t10k-images-idx3-ubyte", idx_bytes({3, 2, 2}, std::string(12, '\0')));
  write_file(tmp.path() / "a" / "t10k-labels-idx1-ubyte", idx_bytes({2}, std::string(2, '\1')));
  EXPECT_ERROR_HAS(open_dataset(tmp.path() / "a", gray_config(2, 2)), "2 labels but");

  write_file(tmp.path() / "b" / "t10k-images-idx3-ubyte", idx_bytes({2, 2, 2}, std::string(8, '\0')));
  write_file(tmp.path() / "b" / "t10k-labels-idx1-ubyte", idx_bytes({2}, std::string("\1\12", 2)));
  EXPECT_ERROR_HAS(open_dataset(tmp.path() / "b", gray_config(2, 2)), "label 10 of image 1 is out of range");

  write_file(tmp.path() / "c" / "t10k-images-idx3-ubyte", idx_bytes({2, 2, 2}, std::string(8, '\0')));
  EXPECT_ERROR_HAS(open_dataset(tmp.path() / "c", gray_config(2, 2)), "no matching labels file");

  // IDX images that the config cannot bring to its input size.
  write_idx_split(tmp.path() / "d", "t10k", 1, 4, 3, false);
  auto ds = open_dataset(tmp.path() / "d", gray_config(28, 28));
  std::vector<float> px(784);
  EXPECT_ERROR_HAS(ds->load(0, px.data()), "#0: image is 4x3");
}

TEST(DataIdx, SplitSelection) {
  TempDir tmp;
  write_idx_split(tmp.path(), "train", 4, 2, 2, true);
  write_idx_split(tmp.path(), "t10k", 2, 2, 2, false);
  const auto splits = find_idx_splits(tmp.path());
  ASSERT_EQ(splits.size(), 2u);
  EXPECT_EQ(splits[0].name, "t10k");
  EXPECT_EQ(splits[1].name, "train");

  PreprocessConfig cfg = gray_config(2, 2);
  EXPECT_ERROR_HAS(open_dataset(tmp.path(), cfg), "several IDX splits (t10k, train)");
  EXPECT_EQ(open_dataset(tmp.path(), cfg, {.split = "train"})->size(), 4);
  cfg.default_split = "t10k";
  EXPECT_EQ(open_dataset(tmp.path(), cfg)->size(), 2);
  EXPECT_EQ(open_dataset(tmp.path(), cfg, {.split = "train"})->size(), 4);  // explicit beats default
  EXPECT_ERROR_HAS(open_dataset(tmp.path(), cfg, {.split = "val"}), "no IDX split \"val\"");
  cfg.default_split = "test";
  EXPECT_ERROR_HAS(open_dataset(tmp.path(), cfg), "available: t10k, train");
}

// ---- image folder and list file -------------------------------------------------------------------

TEST(DataImageFolder, IndexesClassesAndFilesLikeTorchvision) {
  TempDir tmp;
  const fs::path r = tmp.path();
  // Expected order verified with torchvision.datasets.folder.make_dataset: classes sorted by
  // name (hidden and upper-case first), each folder's files before its subfolders', folders in
  // path-string order ("sub" < "sub-2" < "sub/x"), extensions case-insensitive.
  for (const char* f : {"cat/b.png", "cat/a.JPG", "cat/sub/c.png", "cat/sub-2/d.png", "cat/sub/x/e.png",
                        "dog/z.png", "dog/notes.txt", "Ant/y.jpeg", "Ant/.jpg", ".hidden/h.png", "top.png"})
    write_file(r / f, "");
  const ImageFolderIndex index = scan_image_folder(r);
  EXPECT_EQ(index.class_names, (std::vector<std::string>{".hidden", "Ant", "cat", "dog"}));
  std::vector<std::string> got;
  for (const auto& f : index.files) got.push_back(std::to_string(f.label) + " " + fs::relative(f.path, r).string());
  EXPECT_EQ(got, (std::vector<std::string>{"0 .hidden/h.png", "1 Ant/.jpg", "1 Ant/y.jpeg", "2 cat/a.JPG",
                                           "2 cat/b.png", "2 cat/sub/c.png", "2 cat/sub-2/d.png",
                                           "2 cat/sub/x/e.png", "3 dog/z.png"}));

  fs::create_directories(r / "empty");
  EXPECT_ERROR_HAS(scan_image_folder(r), "empty: class folder holds no images");
  fs::remove(r / "empty");
  EXPECT_ERROR_HAS(open_dataset(r, rgb_config(16, 3)), "4 class folders but the model has 3 classes");
  EXPECT_EQ(open_dataset(r, rgb_config(16, 4))->class_names().size(), 4u);
}

TEST(DataImageList, ParsesPathsLabelsCommentsAndBlankLines) {
  TempDir tmp;
  const fs::path list = tmp.path() / "lists" / "val.txt";
  write_file(list,
             "# ImageNet val subset\n"
             "\n"
             "a/img1.jpg 3\n"
             "  b/with space.png\t7  \r\n"
             "/abs/path.jpg 0\n"
             "# trailing comment\n");
  const auto files = read_image_list(list, 10);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].path, tmp.path() / "lists" / "a" / "img1.jpg");
  EXPECT_EQ(files[0].label, 3);
  EXPECT_EQ(files[1].path, tmp.path() / "lists" / "b" / "with space.png");
  EXPECT_EQ(files[1].label, 7);
  EXPECT_EQ(files[2].path, fs::path("/abs/path.jpg"));
}

TEST(DataImageList, BadLinesNameFileAndLine) {
  TempDir tmp;
  const fs::path list = tmp.path() / "l.txt";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a.jpg 1\nb.jpg\n", ":2: expected `<image path> <label>`"},
      {"a.jpg 1\n\n# c\nb.jpg x\n", ":4: label \"x\" is not a non-negative integer"},
      {"a.jpg -1\n", ":1: label \"-1\""},
      {"a.jpg 1.5\n", ":1: label \"1.5\""},
      {"a.jpg 10\n", ":1: label 10 is out of range for a 10-class model"},
      {"7\n", ":1: expected"},
      {"# nothing\n\n", ": list file names no images"},
  };
  for (const auto& [text, expected] : cases) {
    write_file(list, text);
    EXPECT_ERROR_HAS(read_image_list(list, 10), list.string() + expected);
  }
  EXPECT_ERROR_HAS(read_image_list(tmp.path() / "nope.txt", 10), "nope.txt: cannot open list file");
}

TEST(DataOpenDataset, DetectsTheKindOrExplainsWhyNot) {
  TempDir tmp;
  const fs::path r = tmp.path();
  const PreprocessConfig cfg = rgb_config(16);
  EXPECT_ERROR_HAS(open_dataset(r / "missing", cfg), "missing: no such file or folder");
  fs::create_directories(r / "empty");
  EXPECT_ERROR_HAS(open_dataset(r / "empty", cfg), "empty folder");
  fs::create_directories(r / "flat");
  fs::copy_file(kGoldenImages / "rgb_37x53.png", r / "flat" / "a.png");
  EXPECT_ERROR_HAS(open_dataset(r / "flat", cfg), "holds images but no class subfolders");
  write_file(r / "other" / "readme.md", "hi");
  EXPECT_ERROR_HAS(open_dataset(r / "other", cfg), "no class subfolders, images or IDX files");
  EXPECT_ERROR_HAS(open_dataset(r / "flat" / "a.png", cfg), "is an image");
  write_idx_split(r / "idx", "t10k", 1, 2, 2, false);
  EXPECT_ERROR_HAS(open_dataset(r / "idx" / "t10k-images-idx3-ubyte", cfg), "pass the folder");

  write_file(r / "list.txt", "flat/a.png 2\n");
  auto list = open_dataset(r / "list.txt", cfg);
  EXPECT_EQ(list->size(), 1);
  EXPECT_EQ(list->label(0), 2);
  EXPECT_NE(list->description().find("image list"), std::string::npos);
  EXPECT_NE(open_dataset(r / "idx", gray_config(2, 2))->description().find("IDX split \"t10k\""), std::string::npos);
}

// ---- batching ---------------------------------------------------------------------------------------

// Class folders with real images: 3 classes, 8 images, one of them corrupt (class "b", 3rd file).
fs::path make_image_tree(const fs::path& root) {
  const std::vector<std::pair<std::string, std::string>> files = {
      {"a/1.png", "rgb_37x53.png"},   {"a/2.jpg", "rgb_300x200.jpg"}, {"a/3.png", "gray_64x48.png"},
      {"b/1.png", "rgba_41x29.png"},  {"b/2.jpg", "gray_50x70.jpg"},  {"b/3.jpg", ""},
      {"c/1.png", "palette_33x27.png"}, {"c/2.png", "rgb16_23x19.png"},
  };
  for (const auto& [dst, src] : files) {
    fs::create_directories((root / dst).parent_path());
    if (src.empty()) write_file(root / dst, "\xff\xd8\xff\xe0 not really a jpeg");
    else fs::copy_file(kGoldenImages / src, root / dst);
  }
  return root / "b" / "3.jpg";
}

std::vector<float> load_all(const Dataset& ds, BatchLoaderOptions opt, int64_t* batches = nullptr) {
  BatchLoader loader(ds, opt);
  std::vector<float> all;
  Batch b;
  int64_t n = 0;
  while (loader.next(b)) {
    all.insert(all.end(), b.images.data<float>(), b.images.data<float>() + b.images.numel());
    ++n;
  }
  if (batches) *batches = n;
  return all;
}

TEST(DataBatchLoader, FirstBadImageThrowsNamingIt) {
  TempDir tmp;
  const fs::path bad = make_image_tree(tmp.path());
  auto ds = open_dataset(tmp.path(), rgb_config(16, 3));
  ASSERT_EQ(ds->size(), 8);
  BatchLoader loader(*ds, {.batch_size = 3, .skip_bad = false});
  Batch batch;
  ASSERT_TRUE(loader.next(batch));  // samples 0-2 are fine
  EXPECT_EQ(batch.size(), 3);
  try {
    loader.next(batch);
    FAIL() << "expected BadImageError";
  } catch (const BadImageError& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
}

TEST(DataBatchLoader, SkipBadCountsAndKeepsOrder) {
  TempDir tmp;
  const fs::path bad = make_image_tree(tmp.path());
  auto ds = open_dataset(tmp.path(), rgb_config(16, 3));
  BatchLoader loader(*ds, {.batch_size = 3, .skip_bad = true, .num_threads = 2});
  EXPECT_EQ(loader.num_samples(), 8);
  EXPECT_EQ(loader.num_batches(), 3);
  Batch batch;
  std::vector<int64_t> sizes, labels;
  std::vector<std::string> ids;
  while (loader.next(batch)) {
    ASSERT_EQ(batch.images.shape(), (Shape{batch.size(), 3, 16, 16}));
    sizes.push_back(batch.size());
    labels.insert(labels.end(), batch.labels.begin(), batch.labels.end());
    ids.insert(ids.end(), batch.ids.begin(), batch.ids.end());
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 0, 0, 1, 1, 2, 2}));
  ASSERT_EQ(ids.size(), 7u);
  EXPECT_EQ(fs::path(ids[3]), tmp.path() / "b" / "1.png");
  EXPECT_EQ(fs::path(ids[5]), tmp.path() / "c" / "1.png");
  EXPECT_EQ(loader.num_skipped(), 1);
  ASSERT_EQ(loader.skipped_ids().size(), 1u);
  EXPECT_EQ(fs::path(loader.skipped_ids()[0]), bad);
  EXPECT_EQ(loader.position(), 8);

  loader.reset();
  EXPECT_EQ(loader.num_skipped(), 0);
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.size(), 3);
}

TEST(DataBatchLoader, OutputDoesNotDependOnThreadsOrBatchSize) {
  TempDir tmp;
  make_image_tree(tmp.path());
  auto ds = open_dataset(tmp.path(), rgb_config(16, 3));
  int64_t batches = 0;
  const auto one = load_all(*ds, {.batch_size = 1, .skip_bad = true, .num_threads = 1});
  const auto two = load_all(*ds, {.batch_size = 5, .skip_bad = true, .num_threads = 2}, &batches);
  EXPECT_EQ(batches, 2);
  EXPECT_EQ(one.size(), 7u * 3 * 16 * 16);
  EXPECT_EQ(one, two);
}

TEST(DataBatchLoader, LimitTakesTheFirstSamples) {
  TempDir tmp;
  write_idx_split(tmp.path(), "t10k", 10, 2, 2, false);
  auto ds = open_dataset(tmp.path(), gray_config(2, 2));
  BatchLoader loader(*ds, {.batch_size = 4, .limit = 6});
  EXPECT_EQ(loader.num_samples(), 6);
  Batch batch;
  std::vector<int64_t> labels;
  while (loader.next(batch)) labels.insert(labels.end(), batch.labels.begin(), batch.labels.end());
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(BatchLoader(*ds, {.limit = 100}).num_samples(), 10);
}

TEST(DataSubset, FirstKOverallAndPerClass) {
  TempDir tmp;
  write_idx_split(tmp.path(), "t10k", 10, 2, 2, false);  // labels 0 1 2 0 1 2 0 1 2 0
  auto ds = open_dataset(tmp.path(), gray_config(2, 2));
  EXPECT_EQ(select_first(*ds, 3), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(select_first(*ds, 50).size(), 10u);
  EXPECT_EQ(select_first_per_class(*ds, 2), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(select_first_per_class(*ds, 4), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));

  BatchLoader loader(*ds, {4, 5, 9}, {.batch_size = 8});
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.labels, (std::vector<int64_t>{1, 2, 0}));
  EXPECT_EQ(batch.ids[2].substr(batch.ids[2].size() - 2), "#9");
  EXPECT_FALSE(loader.next(batch));
}

// ---- real data -------------------------------------------------------------------------------------

TEST(DataRealIdx, FashionMnistTestSplit) {
  if (!fs::is_directory(kFashionMnist)) GTEST_SKIP() << kFashionMnist << " is absent (Debian dataset-fashion-mnist)";
  PreprocessConfig cfg = gray_config(28, 28);
  cfg.mean = {0.2860};
  cfg.std = {0.3530};
  cfg.default_split = "t10k";
  const auto start = std::chrono::steady_clock::now();
  auto ds = open_dataset(kFashionMnist, cfg);
  ASSERT_EQ(ds->size(), 10000);
  // First labels as numpy reads them from t10k-labels-idx1-ubyte.gz.
  const std::vector<int64_t> first = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ds->label(i), first[i]) << i;
  std::vector<int64_t> per_class(10, 0);
  for (int64_t i = 0; i < ds->size(); ++i) {
    ASSERT_GE(ds->label(i), 0);
    ASSERT_LT(ds->label(i), 10);
    ++per_class[ds->label(i)];
  }
  EXPECT_EQ(per_class, std::vector<int64_t>(10, 1000));

  // Image 0, row 14, columns 10..17 as numpy reads them: 0 0 98 136 110 109 110 162.
  std::vector<float> img(784);
  ds->load(0, img.data());
  const int raw[8] = {0, 0, 98, 136, 110, 109, 110, 162};
  for (int k = 0; k < 8; ++k)
    EXPECT_EQ(img[14 * 28 + 10 + k], (static_cast<float>(raw[k]) / 255.0f - 0.2860f) / 0.3530f) << k;

  // All 10k through the batch loader.
  BatchLoader loader(*ds, {.batch_size = 1000});
  Batch batch;
  int64_t seen = 0;
  while (loader.next(batch)) seen += batch.size();
  EXPECT_EQ(seen, 10000);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 5.0);
}

TEST(DataRealIdx, MnistTestSplit) {
  if (!fs::is_directory(kMnist)) GTEST_SKIP() << kMnist << " is absent (shared test data)";
  auto ds = open_dataset(kMnist, gray_config(28, 28));  // the only split present
  ASSERT_EQ(ds->size(), 10000);
  EXPECT_EQ(ds->label(0), 7);
  EXPECT_EQ(ds->label(1), 2);
}

}  // namespace
}  // namespace qvit::data
