// Resource bounds on what a file may make qvit allocate (src/util/limits.h): checked size
// arithmetic, the one-tensor cap, declared sizes compared with the bytes present (ONNX
// initializers, .npy, IDX), bounded JSON depth, numbers that fit no field and bounded echoes.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "calib/recipe.h"
#include "data/idx_file.h"
#include "data/preprocess_config.h"
#include "ir/tensor.h"
#include "temp_dir.h"
#include "util/json_fields.h"
#include "util/limits.h"
#include "util/npy.h"

namespace qvit {
namespace {

namespace fs = std::filesystem;

// Sets limits for one test and restores the defaults after.
class ScopedLimits {
 public:
  explicit ScopedLimits(ResourceLimits l) : saved_(resource_limits()) { set_resource_limits(l); }
  ~ScopedLimits() { set_resource_limits(saved_); }

 private:
  ResourceLimits saved_;
};

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void write_bytes(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

std::string npy_header(const std::string& descr, const std::string& shape) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
  h.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(h.size() & 0xff));
  out.push_back(static_cast<char>(h.size() >> 8));
  return out + h;
}

TEST(ResourceLimits, CheckedArithmeticRefusesOverflow) {
  EXPECT_EQ(checked_mul(int64_t{1} << 31, 4, "x"), int64_t{1} << 33);
  EXPECT_NE(error_of([] { checked_mul(int64_t{1} << 32, int64_t{1} << 32, "dims of 'w'"); }).find("dims of 'w': size overflows"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked_add(INT64_MAX, 1, "sum"); }).find("overflows"), std::string::npos);
  EXPECT_NE(error_of([] { shape_numel({int64_t{1} << 62, 2, 4}); }).find("more elements than a 64-bit count holds"),
            std::string::npos);
  EXPECT_EQ(shape_numel({int64_t{1} << 62, 0, 4}), 0);
}

TEST(ResourceLimits, OneTensorCapIsCheckedBeforeAllocating) {
  ResourceLimits l;
  l.max_tensor_bytes = 1 << 20;
  ScopedLimits scoped(l);
  EXPECT_NO_THROW(Tensor(DType::Float32, {512, 512}));  // exactly 1 MiB
  const std::string e = error_of([] { Tensor(DType::Float32, {512, 513}); });
  EXPECT_NE(e.find("tensor of shape [512,513] (float32): needs"), std::string::npos) << e;
  EXPECT_NE(e.find("--max-tensor-mb"), std::string::npos) << e;
  // The default cap (2 GiB) stops a 2^31-float tensor without trying to allocate 8 GiB.
  set_resource_limits(ResourceLimits{});
  EXPECT_NE(error_of([] { Tensor(DType::Float32, {int64_t{1} << 31}); }).find("above the cap of 2048 MiB"), std::string::npos);
  EXPECT_NE(error_of([] { Tensor(DType::Float64, {int64_t{1} << 61}); }).find("over 8 EiB"), std::string::npos);
}

TEST(ResourceLimits, ImagePixelCap) {
  EXPECT_NO_THROW(check_image_pixels(10000, 10000, "a.jpg"));
  const std::string e = error_of([] { check_image_pixels(30000, 30000, "bomb.jpg"); });
  EXPECT_NE(e.find("bomb.jpg: the header declares 30000×30000 pixels, above the cap of 100 MP"), std::string::npos) << e;
  EXPECT_NE(error_of([] { check_image_pixels(int64_t{1} << 40, int64_t{1} << 40, "x"); }).find("above the cap"), std::string::npos);
}

TEST(ResourceLimits, EchoedValuesAreClipped) {
  EXPECT_EQ(clip_for_message("short"), "short");
  const std::string clipped = clip_for_message(std::string(100000, 'k'));
  EXPECT_LT(clipped.size(), 200u);
  EXPECT_NE(clipped.find("(100000 characters)"), std::string::npos);
}

TEST(ResourceLimits, JsonDepthNumbersAndEchoes) {
  const JsonFields f("r.json");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(error_of([&] { f.parse(deep); }), "r.json: invalid JSON: nested more than 64 levels deep");
  EXPECT_NO_THROW(f.parse(std::string(64, '[') + std::string(64, ']')));
  // Brackets inside strings do not count.
  EXPECT_NO_THROW(f.parse("{\"a\": \"" + std::string(1000, '[') + "\"}"));
  EXPECT_NE(error_of([&] { f.parse("{\"bits\": 1e999}"); }).find("r.json: invalid JSON:"), std::string::npos);
  const nlohmann::json huge = f.parse("{\"bits\": 18446744073709551615}");
  EXPECT_EQ(error_of([&] { f.integer(huge["bits"], "bits", 1, 16); }),
            "r.json: field \"bits\": 18446744073709551615 is outside [1, 16]");
  // A long value is echoed clipped; invalid UTF-8 is a syntax error, not a json::type_error later.
  const nlohmann::json long_value = f.parse("{\"a\": \"" + std::string(100000, 'x') + "\"}");
  EXPECT_LT(error_of([&] { f.integer(long_value["a"], "a", 0, 1); }).size(), 300u);
  EXPECT_NE(error_of([&] { f.parse("{\"a\": \"\xff\xfe\"}"); }).find("ill-formed UTF-8"), std::string::npos);
}

TEST(ResourceLimits, RecipeAndConfigNumbersThatFitNoField) {
  EXPECT_NE(error_of([] { parse_recipe("{\"format\": \"qvit.recipe/1\", \"weights\": {\"bits\": 1e999}}", "r.json"); })
                .find("r.json: invalid JSON"),
            std::string::npos);
  const std::string cfg = "{\"format\": \"qvit.config/1\", \"input\": {\"channels\": 1, \"height\": 18446744073709551615, "
                          "\"width\": 28}, \"mean\": [0], \"std\": [1], \"num_classes\": 10}";
  EXPECT_NE(error_of([&] { data::parse_preprocess_config(cfg, "c.json"); }).find("c.json: field \"input.height\": 18446744073709551615 is too large"),
            std::string::npos);
}

TEST(ResourceLimits, NpyDeclaredSizeIsComparedWithTheFile) {
  test::TempDir dir;
  const fs::path p = dir.path() / "a.npy";
  write_bytes(p, npy_header("<f4", "(2147483648,)") + std::string(16, '\0'));
  const std::string e = error_of([&] { read_npy(p.string()); });
  EXPECT_NE(e.find("truncated data (the header declares shape [2147483648] of '<f4', 8589934592 bytes, the file holds 16)"),
            std::string::npos) << e;
  write_bytes(p, npy_header("<f4", "(4611686018427387904, 2, 4)"));
  EXPECT_NE(error_of([&] { read_npy(p.string()); }).find("64-bit"), std::string::npos);
  write_bytes(p, npy_header("<f4", "(3, -4)"));
  EXPECT_NE(error_of([&] { read_npy(p.string()); }).find("bad shape entry '-4'"), std::string::npos);
  write_bytes(p, npy_header("<f4", "(3, 4x)"));
  EXPECT_NE(error_of([&] { read_npy(p.string()); }).find("bad shape entry '4x'"), std::string::npos);
}

TEST(ResourceLimits, IdxDimsAreMultipliedWithChecksAndGzipIsCapped) {
  test::TempDir dir;
  const fs::path p = dir.path() / "x.idx";
  write_bytes(p, std::string("\0\0\x08\x03", 4) + std::string(12, '\xff') + std::string(8, '\0'));
  EXPECT_NE(error_of([&] { data::read_idx_u8(p, 3); }).find("implausibly large"), std::string::npos);

  ResourceLimits l;
  l.max_tensor_bytes = 1 << 20;
  ScopedLimits scoped(l);
  const fs::path gz = dir.path() / "bomb.idx.gz";
  gzFile f = gzopen(gz.c_str(), "wb9");
  ASSERT_NE(f, nullptr);
  const std::string zeros(4 << 20, '\0');
  ASSERT_EQ(gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size())), static_cast<int>(zeros.size()));
  gzclose(f);
  EXPECT_NE(error_of([&] { data::read_idx_u8(gz, 3); }).find("decompresses to more than 1 MiB"), std::string::npos);
}

}  // namespace
}  // namespace qvit
