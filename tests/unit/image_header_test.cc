// The image header reader (data/image_header.h) and the decompression-bomb guard in front of the
// decoders: hand-crafted headers of every format, every truncation of each, huge declared sizes
// refused at once, unknown formats refused, real images whose header agrees with the decoder, and
// random mutations (under the sanitizer build, any out-of-bounds read fails the suite). Also the
// capped logging of images skipped with --skip-bad (SkippedImages).
#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "data/batch_loader.h"
#include "data/image_decode.h"
#include "data/image_header.h"
#include "data/jpeg_decode.h"
#include "util/limits.h"

namespace qvit::data {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

const fs::path kGolden = fs::path(QVIT_TEST_DIR) / "golden";
const fs::path kImagenetSamples = fs::path(QVIT_SOURCE_DIR).parent_path() / "shared" / "data" / "imagenet-samples";

// ---- builders of minimal headers ------------------------------------------------------------

void put(Bytes& b, const std::string& s) { b.insert(b.end(), s.begin(), s.end()); }
void be16(Bytes& b, uint32_t v) { b.insert(b.end(), {uint8_t(v >> 8), uint8_t(v)}); }
void le16(Bytes& b, uint32_t v) { b.insert(b.end(), {uint8_t(v), uint8_t(v >> 8)}); }
void le24(Bytes& b, uint32_t v) { b.insert(b.end(), {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16)}); }
void be32(Bytes& b, uint32_t v) { be16(b, v >> 16), be16(b, v & 0xFFFF); }
void le32(Bytes& b, uint32_t v) { le16(b, v & 0xFFFF), le16(b, v >> 16); }

// SOI, APP0 (JFIF), a DHT, then SOFn; `before_sof` lets a test add segments or garbage.
Bytes jpeg(uint32_t w, uint32_t h, uint8_t sof = 0xC0, const Bytes& before_sof = {}) {
  Bytes b = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10};
  put(b, std::string("JFIF\0\1\1\0\0\1\0\1\0\0", 14));
  b.insert(b.end(), {0xFF, 0xC4, 0x00, 0x05, 0x00, 0x01, 0x00});  // DHT: not a frame header
  b.insert(b.end(), before_sof.begin(), before_sof.end());
  b.insert(b.end(), {0xFF, sof, 0x00, 0x0B, 0x08});
  be16(b, h), be16(b, w);
  b.insert(b.end(), {0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9});
  return b;
}

Bytes png(uint32_t w, uint32_t h) {
  Bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  be32(b, 13), put(b, "IHDR"), be32(b, w), be32(b, h);
  b.insert(b.end(), {8, 2, 0, 0, 0, 0, 0, 0, 0});  // depth, color type, ..., CRC (not checked here)
  return b;
}

Bytes bmp_info(int32_t w, int32_t h, uint32_t dib_size = 40) {
  Bytes b;
  put(b, "BM"), b.resize(14, 0);
  le32(b, dib_size), le32(b, static_cast<uint32_t>(w)), le32(b, static_cast<uint32_t>(h));
  b.resize(14 + dib_size, 0);
  return b;
}

Bytes bmp_core(uint16_t w, uint16_t h) {
  Bytes b;
  put(b, "BM"), b.resize(14, 0);
  le32(b, 12), le16(b, w), le16(b, h), le16(b, 1), le16(b, 24);
  return b;
}

Bytes text(const std::string& s) { return {s.begin(), s.end()}; }

Bytes riff(const std::string& fourcc, const Bytes& payload) {
  Bytes b;
  put(b, "RIFF"), le32(b, static_cast<uint32_t>(12 + payload.size())), put(b, "WEBP"), put(b, fourcc);
  le32(b, static_cast<uint32_t>(payload.size()));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes webp_vp8(uint32_t w, uint32_t h) {
  Bytes p = {0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A};  // key-frame tag, start code
  le16(p, w), le16(p, h);
  return riff("VP8 ", p);
}

Bytes webp_vp8l(uint32_t w, uint32_t h) {
  Bytes p = {0x2F};
  le32(p, (w - 1) | ((h - 1) << 14));
  return riff("VP8L", p);
}

Bytes webp_vp8x(uint32_t w, uint32_t h) {
  Bytes p = {0x10, 0, 0, 0};
  le24(p, w - 1), le24(p, h - 1);
  return riff("VP8X", p);
}

// Classic TIFF with one IFD holding a filler tag, ImageWidth and ImageLength (3 = SHORT, 4 = LONG).
Bytes tiff(bool little, uint32_t w, uint32_t h, uint16_t wtype = 4, uint16_t htype = 3) {
  Bytes b;
  auto u16 = [&](uint32_t v) { little ? le16(b, v) : be16(b, v); };
  auto u32 = [&](uint32_t v) { little ? le32(b, v) : be32(b, v); };
  put(b, little ? "II" : "MM"), u16(42), u32(8), u16(3);
  auto entry = [&](uint16_t tag, uint16_t type, uint32_t v) {
    u16(tag), u16(type), u32(1);
    if (type == 3) u16(v), u16(0);  // a SHORT sits in the first two bytes of the value field
    else u32(v);
  };
  entry(254, 4, 0);  // NewSubfileType
  entry(256, wtype, w);
  entry(257, htype, h);
  u32(0);  // no next IFD
  return b;
}

ImageHeader header(const Bytes& b) { return read_image_header(b); }

void expect_size(const Bytes& b, ImageFormat format, int64_t w, int64_t h) {
  const ImageHeader r = header(b);
  EXPECT_TRUE(r.ok()) << r.problem;
  EXPECT_EQ(r.format, format) << image_format_name(r.format);
  EXPECT_EQ(r.width, w);
  EXPECT_EQ(r.height, h);
}

std::string decode_error(const Bytes& b) {
  try {
    decode_image_bytes(b, 3, "x.img");
  } catch (const BadImageError& e) {
    return e.what();
  }
  return "(decoded)";
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// ---- tests ----------------------------------------------------------------------------------

TEST(ImageHeader, ReadsEveryFormat) {
  expect_size(jpeg(53, 37), ImageFormat::Jpeg, 53, 37);
  expect_size(png(41, 29), ImageFormat::Png, 41, 29);
  expect_size(bmp_info(300, 200), ImageFormat::Bmp, 300, 200);
  expect_size(bmp_core(17, 21), ImageFormat::Bmp, 17, 21);
  expect_size(text("P6\n53 37\n255\n"), ImageFormat::Pnm, 53, 37);
  expect_size(webp_vp8(640, 480), ImageFormat::WebP, 640, 480);
  expect_size(webp_vp8l(1, 16384), ImageFormat::WebP, 1, 16384);
  expect_size(webp_vp8x(1 << 24, 3), ImageFormat::WebP, 1 << 24, 3);
  expect_size(tiff(true, 70000, 50), ImageFormat::Tiff, 70000, 50);
  expect_size(tiff(false, 50, 60000, 3, 4), ImageFormat::Tiff, 50, 60000);
}

TEST(ImageHeader, JpegWalksMarkersLikeLibjpeg) {
  // Every SOFn is a frame header; DHT (C4), JPG (C8) and DAC (CC) are not.
  for (int m = 0xC0; m <= 0xCF; ++m) {
    const ImageHeader r = header(jpeg(11, 7, static_cast<uint8_t>(m)));
    if (m == 0xC4 || m == 0xC8 || m == 0xCC) EXPECT_FALSE(r.ok()) << std::hex << m;
    else EXPECT_TRUE(r.ok() && r.width == 11 && r.height == 7) << std::hex << m << " " << r.problem;
  }
  // Fill bytes, garbage and stuffed FF 00 between segments are skipped, as libjpeg does.
  expect_size(jpeg(5, 6, 0xC2, {0x12, 0x34, 0xFF, 0xFF, 0xFF, 0x00}), ImageFormat::Jpeg, 5, 6);
  // An SOF-looking pattern inside an APP1 (EXIF) payload is skipped with the segment.
  expect_size(jpeg(5, 6, 0xC0, {0xFF, 0xE1, 0x00, 0x0B, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x75, 0x30, 0x75, 0x30}), ImageFormat::Jpeg, 5,
              6);
  // A scan or EOI before any frame header, or a bad segment length: no size.
  EXPECT_FALSE(header(jpeg(5, 6, 0xC0, {0xFF, 0xDA, 0x00, 0x02})).ok());
  EXPECT_FALSE(header(jpeg(5, 6, 0xC0, {0xFF, 0xD9})).ok());
  EXPECT_FALSE(header(jpeg(5, 6, 0xC0, {0xFF, 0xE2, 0x00, 0x01})).ok());
  EXPECT_FALSE(header({0xFF, 0xD8, 0xFF, 0xE2, 0xFF, 0xFF}).ok());  // segment length past the end
}

TEST(ImageHeader, BmpTopDownCoreAndBadSizes) {
  expect_size(bmp_info(300, -200), ImageFormat::Bmp, 300, 200);
  expect_size(bmp_info(1, INT32_MIN), ImageFormat::Bmp, 1, int64_t{1} << 31);
  expect_size(bmp_info(8, 9, 124), ImageFormat::Bmp, 8, 9);  // BITMAPV5HEADER
  EXPECT_FALSE(header(bmp_info(-5, 5)).ok());
  EXPECT_FALSE(header(bmp_info(5, 5, 13)).ok());
}

TEST(ImageHeader, PnmAsciiHeadersWithComments) {
  expect_size(text("P1\n# a comment\n3 2\n0 1 0\n1 0 1\n"), ImageFormat::Pnm, 3, 2);
  expect_size(text("P2 #c\n 4#x\n\t5 255\n"), ImageFormat::Pnm, 4, 5);
  expect_size(text("P3\r\n# one\r# two\n 6\n# between\n7\n255\n"), ImageFormat::Pnm, 6, 7);
  expect_size(text("P4\n8 9\n"), ImageFormat::Pnm, 8, 9);
  expect_size(text("P5 10 11 255 "), ImageFormat::Pnm, 10, 11);
  // A number longer than any real size saturates (and is then far above the cap).
  const ImageHeader big = header(text("P6 99999999999999999999999999 2 255\n"));
  EXPECT_TRUE(big.ok());
  EXPECT_GT(big.width, int64_t{1} << 32);
  EXPECT_FALSE(header(text("P6\n53")).ok());
  EXPECT_FALSE(header(text("P6\n53 # no height")).ok());
  EXPECT_FALSE(header(text("P653 37 255\n")).ok());
  EXPECT_FALSE(header(text("P6\n-5 5 255\n")).ok());
  EXPECT_EQ(header(text("P7\nWIDTH 4\n")).format, ImageFormat::Unknown);  // PAM is not read
}

TEST(ImageHeader, TiffTagsAndEndians) {
  expect_size(tiff(true, 9, 8, 3, 3), ImageFormat::Tiff, 9, 8);
  expect_size(tiff(false, 9, 8, 4, 4), ImageFormat::Tiff, 9, 8);
  EXPECT_NE(header(tiff(true, 9, 8, 5, 3)).problem.find("type 5"), std::string::npos);  // RATIONAL
  Bytes far = tiff(true, 9, 8);
  far[4] = 0xF0;  // first IFD offset past the end
  EXPECT_FALSE(header(far).ok());
  Bytes no_length = tiff(false, 9, 8);
  no_length[8 + 2 + 24] = 0x02;  // the third entry's tag, big-endian 0x0101 (ImageLength) → 0x0201
  EXPECT_FALSE(header(no_length).ok());
  Bytes big_tiff = {'I', 'I', 0x2B, 0x00, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_NE(header(big_tiff).problem.find("BigTIFF"), std::string::npos);
}

// Every header is cut at every length: shorter than what the reader needs is a problem (never
// a read past the end: each prefix is its own exactly sized allocation for the sanitizers), and
// from the needed length on the answer no longer changes.
TEST(ImageHeader, EveryTruncationIsAProblemNeverACrash) {
  const std::vector<Bytes> all = {jpeg(53, 37),        png(41, 29),        bmp_info(300, -200), bmp_core(17, 21),
                                  text("P3 # c\n6 7 255\n"), webp_vp8(640, 480), webp_vp8l(9, 9),    webp_vp8x(9, 9),
                                  tiff(true, 9, 8),    tiff(false, 9, 8)};
  for (const Bytes& full : all) {
    const ImageHeader want = header(full);
    ASSERT_TRUE(want.ok()) << want.problem;
    bool reached = false;
    for (size_t n = 0; n <= full.size(); ++n) {
      const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      const ImageHeader got = header(cut);
      if (got.ok()) {
        reached = true;
        EXPECT_EQ(got.width, want.width) << image_format_name(want.format) << " cut at " << n;
        EXPECT_EQ(got.height, want.height) << image_format_name(want.format) << " cut at " << n;
      } else {
        EXPECT_FALSE(reached) << image_format_name(want.format) << " cut at " << n << ": " << got.problem;
        EXPECT_FALSE(got.problem.empty());
      }
    }
  }
}

TEST(ImageHeader, UnknownFormatsNeverReachADecoder) {
  const std::string refused = "cannot read the image size from the header (qvit reads JPEG, PNG, BMP, WebP, TIFF and PPM/PGM/PBM)";
  for (const Bytes& b : {text("GIF89a\x01\0\x01\0"), text("PF\n3 2\n-1.0\n"), text("#?RADIANCE\n"), text("this is not an image"),
                         Bytes{0x76, 0x2F, 0x31, 0x01}, Bytes{0x00, 0x00, 0x00, 0x0C, 'j', 'P', ' ', ' '}}) {
    EXPECT_EQ(header(b).format, ImageFormat::Unknown);
    EXPECT_NE(decode_error(b).find(refused), std::string::npos) << decode_error(b);
  }
  // A known format whose header is broken says what is wrong.
  EXPECT_NE(decode_error(text("P6\n53")).find("cannot read the image size from the header: PNM header"), std::string::npos);
  EXPECT_NE(decode_error(png(0, 5)).find("PNG header declares an empty 0×5 image"), std::string::npos) << decode_error(png(0, 5));
}

// Every format declaring far more than the cap is refused from its header, at once: the pixels
// are never allocated (30000×30000 RGB would be 2.7 GB).
TEST(ImageHeader, HugeDimensionsAreRefusedBeforeDecoding) {
  const std::vector<Bytes> bombs = {jpeg(30000, 30000),       png(30000, 30000),          png(0xFFFFFFFF, 0xFFFFFFFF),
                                    bmp_info(30000, -30000),  bmp_core(65535, 65535),     text("P6\n30000 30000\n255\n"),
                                    text("P1 30000 30000 0"), webp_vp8(16383, 16383),     webp_vp8l(16384, 16384),
                                    webp_vp8x(30000, 30000),  tiff(true, 30000, 30000),   tiff(false, 0xFFFFFFFF, 65535)};
  for (const Bytes& b : bombs) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string error = decode_error(b);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_NE(error.find("x.img: the header declares "), std::string::npos) << image_format_name(header(b).format) << ": " << error;
    EXPECT_NE(error.find("above the cap of 100 MP"), std::string::npos) << error;
    EXPECT_LT(seconds, 0.5) << error;
  }
}

TEST(ImageHeader, GoldenBombFilesAreRefused) {
  for (const char* name : {"bomb_30000x30000.jpg", "bomb_30000x30000.png"}) {
    const Bytes b = read_file(kGolden / "image_bombs" / name);
    ASSERT_FALSE(b.empty()) << name;
    EXPECT_LT(b.size(), 1024u);
    expect_size(b, std::string(name).ends_with("jpg") ? ImageFormat::Jpeg : ImageFormat::Png, 30000, 30000);
    EXPECT_NE(decode_error(b).find("30000×30000 pixels, above the cap"), std::string::npos) << decode_error(b);
  }
}

// The cap is the process-wide one (--max-image-mp), and libjpeg's own output size is checked a
// second time in the JPEG decoder.
TEST(ImageHeader, CapFollowsResourceLimits) {
  const Bytes jpg = read_file(kGolden / "preprocess" / "images" / "rgb_300x200.jpg");
  ASSERT_FALSE(jpg.empty());
  const ResourceLimits saved = resource_limits();
  ResourceLimits small = saved;
  small.max_image_pixels = 300 * 200 - 1;
  set_resource_limits(small);
  const std::string error = decode_error(jpg);
  bool second_guard = false;
  try {
    decode_jpeg(jpg, "direct.jpg");
  } catch (const BadImageError& e) {
    second_guard = std::string(e.what()).find("direct.jpg: the header declares 300×200 pixels") != std::string::npos;
  }
  small.max_image_pixels = 300 * 200;
  set_resource_limits(small);
  const std::string at_cap = decode_error(jpg);
  set_resource_limits(saved);
  EXPECT_NE(error.find("300×200 pixels, above the cap"), std::string::npos) << error;
  EXPECT_TRUE(second_guard);
  EXPECT_EQ(at_cap, "(decoded)");
  // The JPEG decoder alone also refuses a bomb before allocating it.
  try {
    decode_jpeg(read_file(kGolden / "image_bombs" / "bomb_30000x30000.jpg"), "bomb.jpg");
    ADD_FAILURE() << "the JPEG bomb was decoded";
  } catch (const BadImageError& e) {
    EXPECT_NE(std::string(e.what()).find("bomb.jpg: the header declares 30000×30000 pixels"), std::string::npos) << e.what();
  }
}

// Real files: the header agrees with what the decoder produces.
TEST(ImageHeader, RealImagesHeaderMatchesDecodedSize) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kGolden / "preprocess" / "images")) files.push_back(e.path());
  const bool have_imagenet = fs::is_directory(kImagenetSamples);
  if (have_imagenet)
    for (const auto& e : fs::directory_iterator(kImagenetSamples))
      if (e.path().extension() == ".JPEG") files.push_back(e.path());
  ASSERT_GE(files.size(), 8u);
  for (const fs::path& p : files) {
    const Bytes b = read_file(p);
    const ImageHeader h = header(b);
    ASSERT_TRUE(h.ok()) << p << ": " << h.problem;
    const ImageU8 img = decode_image_bytes(b, 3, p.string());
    EXPECT_EQ(h.width, img.width) << p;
    EXPECT_EQ(h.height, img.height) << p;
  }
  if (!have_imagenet) GTEST_SKIP() << kImagenetSamples << " is absent (shared test data); golden images only";
}

// Random byte flips, insertions and truncations of valid headers: the reader answers every one
// (the sanitizer build turns any out-of-bounds read into a failure).
TEST(ImageHeader, RandomMutationsNeverCrash) {
  std::vector<Bytes> seeds = {jpeg(53, 37), png(41, 29), bmp_info(3, -2), bmp_core(1, 1), text("P2 # c\n6 7 255\n"),
                              webp_vp8(6, 4), webp_vp8l(9, 9), webp_vp8x(9, 9), tiff(true, 9, 8), tiff(false, 9, 8)};
  seeds.push_back(read_file(kGolden / "image_bombs" / "bomb_30000x30000.jpg"));
  std::mt19937 rng(20240611);
  int64_t answered = 0;
  for (int iter = 0; iter < 50000; ++iter) {
    Bytes b = seeds[rng() % seeds.size()];
    for (int k = 1 + static_cast<int>(rng() % 4); k > 0 && !b.empty(); --k) {
      const size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0: b[at] = static_cast<uint8_t>(rng()); break;
        case 1: b[at] = (rng() % 2) ? 0xFF : 0x00; break;
        case 2: b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), static_cast<uint8_t>(rng())); break;
        default: b.resize(at); break;
      }
    }
    b.shrink_to_fit();
    const ImageHeader h = header(b);
    EXPECT_GE(h.width, 0);
    EXPECT_GE(h.height, 0);
    answered += h.ok() || !h.problem.empty();
  }
  EXPECT_EQ(answered, 50000);
}

// ---- skipped images ---------------------------------------------------------------------------

TEST(SkippedImages, LogsTheFirstFewThenOneSummary) {
  std::ostringstream log;
  auto saved = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  logger->set_pattern("%v");
  spdlog::set_default_logger(logger);
  SkippedImages skipped("skipping bad image: ");
  for (int i = 0; i < 100; ++i) {
    const std::string id = std::string("f").append(std::to_string(i));  // not "f" + ...: GCC 12 -Wrestrict false positive
    skipped.add(id, id + ": empty file");
  }
  SkippedImages one("x: ");
  one.add("a.png", "a.png: truncated PNG");
  spdlog::set_default_logger(saved);
  EXPECT_EQ(log.str(), "skipping bad image: f0: empty file\nskipping bad image: f1: empty file\nskipping bad image: f2: empty file\n"
                       "x: a.png: truncated PNG\n");
  EXPECT_EQ(skipped.count(), 100);
  EXPECT_EQ(skipped.ids().size(), 100u);
  EXPECT_EQ(skipped.examples(), (std::vector<std::string>{"f0", "f1", "f2", "f3", "f4"}));
  EXPECT_EQ(skipped.summary(250), "skipped 100 unreadable image(s) of 250; first: f0: empty file; then f1, f2 and 97 more");
  EXPECT_EQ(one.summary(3), "skipped 1 unreadable image(s) of 3; first: a.png: truncated PNG");
  one.clear();
  EXPECT_EQ(one.count(), 0);
  EXPECT_EQ(one.first_reason(), "");
}

}  // namespace
}  // namespace qvit::data
