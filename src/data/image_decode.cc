#include "data/image_decode.h"

#include "data/image_header.h"
#include "data/jpeg_decode.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <zlib.h>

#include "util/limits.h"

namespace qvit::data {
namespace {

[[noreturn]] void bad_image(const std::string& name, const std::string& problem) {
  throw BadImageError(name + ": " + problem);
}

// libjpeg decodes a truncated JPEG "successfully" (it pads the missing part with gray and only
// prints a warning), whereas PIL raises "image file is truncated". To behave like PIL we check
// that the end-of-image marker FFD9 follows the first scan: inside entropy-coded data every FF
// byte is followed by 00 or a restart marker, so FFD9 after start-of-scan can only be the EOI.
// The segment walk before the scan skips APPn payloads (EXIF thumbnails carry their own FFD9).
bool jpeg_is_truncated(std::span<const uint8_t> data) {
  const size_t n = data.size();
  size_t pos = 2;  // after SOI
  while (pos + 1 < n) {
    if (data[pos] != 0xFF) return false;  // malformed header: leave the verdict to the decoder
    const uint8_t marker = data[pos + 1];
    if (marker == 0xFF) { ++pos; continue; }  // fill byte
    if (marker == 0xDA) {
      for (size_t i = pos + 2; i + 1 < n; ++i)
        if (data[i] == 0xFF && data[i + 1] == 0xD9) return false;
      return true;
    }
    if (marker == 0xD9) return false;  // EOI before any scan: the decoder will reject it
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { pos += 2; continue; }  // no length field
    if (pos + 3 >= n) return true;
    pos += 2 + ((size_t{data[pos + 2]} << 8) | data[pos + 3]);
  }
  return true;  // the file ends inside the headers
}

// Walks a PNG's chunks and checks each CRC, so that a corrupt or truncated PNG is reported by
// qvit in one line before libpng sees it (libpng prints its own message to stderr otherwise).
// Returns an empty string when the chunk structure is sound, else what is wrong.
std::string png_structure_problem(std::span<const uint8_t> data) {
  size_t pos = 8;
  auto be32 = [&](size_t at) {
    return (uint32_t{data[at]} << 24) | (uint32_t{data[at + 1]} << 16) | (uint32_t{data[at + 2]} << 8) | data[at + 3];
  };
  while (true) {
    if (pos + 12 > data.size()) return "truncated PNG (missing IEND chunk)";
    const uint32_t len = be32(pos);
    if (len > data.size() || pos + 12 + len > data.size()) return "truncated PNG (chunk extends past the end of the file)";
    const uint8_t* type = data.data() + pos + 4;
    for (int k = 0; k < 4; ++k)
      if (!((type[k] >= 'A' && type[k] <= 'Z') || (type[k] >= 'a' && type[k] <= 'z'))) return "corrupt PNG (invalid chunk type)";
    const uint32_t want = be32(pos + 8 + len);
    const uint32_t got = static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), type, len + 4));
    if (got != want) return "corrupt PNG (CRC mismatch in chunk " + std::string(reinterpret_cast<const char*>(type), 4) + ")";
    if (std::memcmp(type, "IEND", 4) == 0) return {};
    pos += 12 + len;
  }
}

bool looks_like_png(std::span<const uint8_t> data) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return data.size() >= 8 && std::memcmp(data.data(), kSignature, 8) == 0;
}

bool looks_like_jpeg(std::span<const uint8_t> data) {
  return data.size() >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

// An OpenCV decode result (BGR/BGRA/gray, 8 or 16 bits) → the 8-bit image PIL would hold in
// mode "L" (1 channel) or "RGB" (3 channels), before any convert() to the model's channels.
ImageU8 to_pil_pixels(const cv::Mat& m, const std::string& name) {
  const int src_channels = m.channels();
  if (src_channels != 1 && src_channels != 3 && src_channels != 4)
    bad_image(name, "unsupported image with " + std::to_string(src_channels) + " channels");
  if (m.depth() != CV_8U && m.depth() != CV_16U)
    bad_image(name, "unsupported pixel format (only 8- and 16-bit unsigned images are read)");

  ImageU8 img(m.rows, m.cols, src_channels == 1 ? 1 : 3);
  for (int y = 0; y < m.rows; ++y) {
    uint8_t* dst = img.row(y);
    if (m.depth() == CV_8U) {
      const uint8_t* src = m.ptr<uint8_t>(y);
      if (src_channels == 1) {
        std::memcpy(dst, src, static_cast<size_t>(m.cols));
      } else {
        for (int x = 0; x < m.cols; ++x, src += src_channels, dst += 3) {
          dst[0] = src[2];
          dst[1] = src[1];
          dst[2] = src[0];
        }
      }
    } else {
      const uint16_t* src = m.ptr<uint16_t>(y);
      if (src_channels == 1) {
        // PIL mode "I" → "L"/"RGB" clamps instead of scaling.
        for (int x = 0; x < m.cols; ++x) dst[x] = static_cast<uint8_t>(std::min<uint16_t>(src[x], 255));
      } else {
        // PIL unpacks 16-bit color samples ("RGB;16B") by keeping their high byte.
        for (int x = 0; x < m.cols; ++x, src += src_channels, dst += 3) {
          dst[0] = static_cast<uint8_t>(src[2] >> 8);
          dst[1] = static_cast<uint8_t>(src[1] >> 8);
          dst[2] = static_cast<uint8_t>(src[0] >> 8);
        }
      }
    }
  }
  return img;
}

// Refuses, from the header alone, an image no decoder should see: a format qvit does not read
// (cv::imdecode would otherwise try every codec OpenCV has, with OpenCV's own 1-GPixel limit,
// read once at library load), a header that cannot be read, or a declared size above the pixel
// cap (a decompression bomb: a few hundred bytes declaring 30000×30000). Nothing is allocated for
// the pixels, so the refusal is immediate; it is a BadImageError, which --skip-bad skips.
void check_declared_size(std::span<const uint8_t> encoded, const std::string& name) {
  const ImageHeader header = read_image_header(encoded);
  if (header.format == ImageFormat::Unknown)
    bad_image(name, "cannot read the image size from the header (qvit reads JPEG, PNG, BMP, WebP, TIFF and PPM/PGM/PBM)");
  if (!header.ok()) bad_image(name, "cannot read the image size from the header: " + header.problem);
  if (header.width == 0 || header.height == 0)
    bad_image(name, std::string(image_format_name(header.format)) + " header declares an empty " + std::to_string(header.width) +
                        "×" + std::to_string(header.height) + " image");
  try {
    check_image_pixels(header.width, header.height, name);
  } catch (const Error& e) {
    throw BadImageError(e.what());  // a qvit::Error would stop the run even with --skip-bad
  }
}

}  // namespace

ImageU8 convert_channels(ImageU8 image, int channels) {
  QVIT_CHECK(channels == 1 || channels == 3, "convert_channels: channels must be 1 or 3");
  QVIT_CHECK(image.channels == 1 || image.channels == 3, "convert_channels: source must have 1 or 3 channels");
  if (image.channels == channels) return image;
  const size_t pixels = static_cast<size_t>(image.height) * image.width;
  ImageU8 out(image.height, image.width, channels);
  const uint8_t* src = image.pixels.data();
  uint8_t* dst = out.pixels.data();
  if (channels == 3) {
    for (size_t i = 0; i < pixels; ++i) dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
  } else {
    // ITU-R 601-2 luma with weights 0.299/0.587/0.114 in 16-bit fixed point, rounded (PIL's L24).
    for (size_t i = 0; i < pixels; ++i) {
      const uint32_t r = src[3 * i], g = src[3 * i + 1], b = src[3 * i + 2];
      dst[i] = static_cast<uint8_t>((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
    }
  }
  return out;
}

ImageU8 decode_image_bytes(std::span<const uint8_t> encoded, int channels, const std::string& name) {
  if (encoded.empty()) bad_image(name, "empty file");
  check_declared_size(encoded, name);
  if (looks_like_jpeg(encoded) && jpeg_is_truncated(encoded))
    bad_image(name, "truncated JPEG (no end-of-image marker after the image data)");
  if (looks_like_png(encoded))
    if (const std::string problem = png_structure_problem(encoded); !problem.empty()) bad_image(name, problem);
  if (looks_like_jpeg(encoded))
    if (std::optional<ImageU8> jpeg = decode_jpeg(encoded, name)) return convert_channels(std::move(*jpeg), channels);
  // cv::Mat sizes are int.
  if (encoded.size() > static_cast<size_t>(std::numeric_limits<int>::max())) bad_image(name, "image file larger than 2 GiB");
  cv::Mat decoded;
  try {
    const cv::Mat buffer(1, static_cast<int>(encoded.size()), CV_8U, const_cast<uint8_t*>(encoded.data()));
    decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    bad_image(name, std::string("cannot decode image: ") + e.what());
  }
  if (decoded.empty() || decoded.rows <= 0 || decoded.cols <= 0)
    bad_image(name, "cannot decode image (not a JPEG/PNG/BMP/WebP/TIFF/PPM file, or corrupt)");
  return convert_channels(to_pil_pixels(decoded, name), channels);
}

ImageU8 decode_image_file(const std::filesystem::path& path, int channels) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_image(name, std::string("cannot open image file: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) bad_image(name, "cannot read image file (not a regular file?)");
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) bad_image(name, "cannot read image file");
  return decode_image_bytes(bytes, channels, name);
}

}  // namespace qvit::data
