// Resource bounds through the CLI: tiny files that declare huge tensors (an initializer of 2^31
// floats, a ConstantOfShape of 2^31, an .npy of 8 GiB, shapes whose element count overflows) must
// fail with exit 1 and one `error:` line within about a second, while the binary runs under
// `ulimit -v` of about 2 GB — so an allocation of the declared size could not even be attempted
// successfully. The inputs are the committed regression files of the fuzz corpus.
#include "cli_runner.h"

namespace qvit::test {
namespace {

const fs::path kCorpus = fs::path(QVIT_TEST_DIR) / "golden" / "fuzz";
const fs::path kTiny = fs::path(QVIT_TEST_DIR) / "golden" / "fuzz_models" / "tiny_vit.onnx";

void expect_bounded_error(const std::string& args, const std::string& needle) {
  if (kSanitizedBuild) GTEST_SKIP() << "ulimit -v cannot bound an AddressSanitizer build";
  const TimedRun r = run_qvit_limited(args);
  EXPECT_EQ(r.result.exit_code, 1) << args << "\nstderr: " << r.result.err;
  EXPECT_LT(r.seconds, 3.0) << args;
  expect_one_error_line(r.result, args, needle);
}

TEST(CliResourceBounds, InitializerDeclaring2e31FloatsWithoutData) {
  expect_bounded_error("inspect " + (kCorpus / "onnx" / "regress_declared_2e31.onnx").string(), "holds 4 data bytes");
}

TEST(CliResourceBounds, Float64InitializerOf2e33) {
  expect_bounded_error("inspect " + (kCorpus / "onnx" / "regress_declared_2e33_f64.onnx").string(), "holds 4 data bytes");
}

TEST(CliResourceBounds, ConstantOfShape2e31IsAboveTheTensorCap) {
  expect_bounded_error("inspect " + (kCorpus / "onnx" / "regress_constantofshape_2e31.onnx").string(), "--max-tensor-mb");
}

TEST(CliResourceBounds, ExpandToATerabyteIsAboveTheTensorCap) {
  expect_bounded_error("inspect " + (kCorpus / "onnx" / "regress_expand_huge.onnx").string(), "--max-tensor-mb");
}

TEST(CliResourceBounds, NpyDeclaring8GiBIn150Bytes) {
  TempDir dir;
  expect_bounded_error("run " + kTiny.string() + " --input " + (kCorpus / "npy" / "regress_declares_8gib.npy").string() +
                           " --output " + (dir.path() / "y.npy").string(),
                       "truncated data");
  EXPECT_FALSE(fs::exists(dir.path() / "y.npy"));
}

TEST(CliResourceBounds, NpyShapeWhoseElementCountOverflows) {
  TempDir dir;
  expect_bounded_error("run " + kTiny.string() + " --input " + (kCorpus / "npy" / "regress_shape_overflow.npy").string() +
                           " --output " + (dir.path() / "y.npy").string(),
                       "64-bit");
}

TEST(CliResourceBounds, NpyOfHugeEmptyBatchIsRefused) {
  TempDir dir;
  expect_bounded_error("run " + kTiny.string() + " --input " + (kCorpus / "npy" / "regress_huge_batch_empty.npy").string() +
                           " --output " + (dir.path() / "y.npy").string(),
                       "holds no elements");
  EXPECT_FALSE(fs::exists(dir.path() / "y.npy"));
}

TEST(CliResourceBounds, RecipeNested100kLevelsDeep) {
  TempDir dir;
  expect_bounded_error("calibrate " + kTiny.string() + " --preset fmnist --samples 4 --recipe " +
                           (kCorpus / "recipe" / "regress_deep.json").string() + " -o " + (dir.path() / "c.json").string(),
                       "nested more than 64 levels deep");
}

// The cap is one flag: an input that passes the default fails clearly under --max-tensor-mb 1,
// naming the file and the flag to raise it.
TEST(CliResourceBounds, TensorCapIsConfigurable) {
  TempDir dir;
  // A 2.2 MB .npy: 700 images of 1×28×28 float32.
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (700, 1, 28, 28), }";
  std::string npy("\x93NUMPY\x01\x00", 8);
  std::string padded = header + std::string((64 - (10 + header.size() + 1) % 64) % 64, ' ') + "\n";
  npy.push_back(static_cast<char>(padded.size()));
  npy.push_back('\0');
  npy += padded + std::string(700 * 28 * 28 * 4, '\0');
  const fs::path in = dir.write("big.npy", npy);
  const std::string args = "run " + kTiny.string() + " --input " + in.string() + " --output " + (dir.path() / "y.npy").string();
  const RunResult ok = run_qvit(args);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  expect_one_clear_error("--max-tensor-mb 1 " + args, "big.npy: array of shape [700,1,28,28]: needs 2.1 MiB, above the cap of 1.0 MiB for one tensor (raise it with --max-tensor-mb)");
}

}  // namespace
}  // namespace qvit::test
