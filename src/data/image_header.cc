#include "data/image_header.h"

#include <algorithm>
#include <cstring>

namespace qvit::data {
namespace {

// Bounds-checked access to the header bytes. has() is the only gate: every read below is
// preceded by it, and it cannot overflow (n ≤ size − at is tested, never at + n ≤ size).
class Bytes {
 public:
  explicit Bytes(std::span<const uint8_t> data) : d_(data) {}
  size_t size() const { return d_.size(); }
  bool has(size_t at, size_t n) const { return at <= d_.size() && n <= d_.size() - at; }
  uint8_t operator[](size_t at) const { return d_[at]; }
  bool equals(size_t at, const char* text) const {
    const size_t n = std::strlen(text);
    return has(at, n) && std::memcmp(d_.data() + at, text, n) == 0;
  }
  uint32_t be16(size_t at) const { return (uint32_t{d_[at]} << 8) | d_[at + 1]; }
  uint32_t le16(size_t at) const { return (uint32_t{d_[at + 1]} << 8) | d_[at]; }
  uint32_t le24(size_t at) const { return (uint32_t{d_[at + 2]} << 16) | le16(at); }
  uint32_t be32(size_t at) const { return (be16(at) << 16) | be16(at + 2); }
  uint32_t le32(size_t at) const { return (le16(at + 2) << 16) | le16(at); }

 private:
  std::span<const uint8_t> d_;
};

ImageHeader size_of(ImageFormat format, int64_t width, int64_t height) {
  ImageHeader h;
  h.format = format;
  h.width = width;
  h.height = height;
  return h;
}

ImageHeader problem(ImageFormat format, std::string what) {
  ImageHeader h;
  h.format = format;
  h.problem = std::move(what);
  return h;
}

// ---- JPEG ------------------------------------------------------------------------------------

bool is_sof(uint8_t marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// Walks the marker segments after SOI the way libjpeg's next_marker() does — bytes that are not
// a marker (including FF 00) are skipped, FF fill bytes are skipped — so the SOF found here is
// the one libjpeg will decode, even in files with garbage between segments.
ImageHeader read_jpeg(const Bytes& b) {
  constexpr ImageFormat F = ImageFormat::Jpeg;
  size_t pos = 2;
  while (true) {
    while (b.has(pos, 1) && b[pos] != 0xFF) ++pos;
    while (b.has(pos + 1, 1) && b[pos + 1] == 0xFF) ++pos;
    if (!b.has(pos, 2)) return problem(F, "JPEG header truncated before its frame header (SOF)");
    const uint8_t marker = b[pos + 1];
    if (marker == 0x00) {  // a stuffed FF 00: data, not a marker
      pos += 2;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // TEM, RSTn: no length field
      pos += 2;
      continue;
    }
    if (marker == 0xD8) return problem(F, "corrupt JPEG header (a second start-of-image marker)");
    if (marker == 0xD9) return problem(F, "JPEG ends before its frame header (SOF)");
    if (marker == 0xDA) return problem(F, "corrupt JPEG header (image data before the frame header)");
    if (!b.has(pos + 2, 2)) return problem(F, "JPEG header truncated inside a marker segment");
    const size_t length = b.be16(pos + 2);  // counts itself, not the marker
    if (length < 2) return problem(F, "corrupt JPEG header (marker segment length below 2)");
    if (is_sof(marker)) {
      // length(2) precision(1) height(2) width(2) components(1) ...
      if (length < 8) return problem(F, "corrupt JPEG frame header (SOF segment too short)");
      if (!b.has(pos + 4, 5)) return problem(F, "JPEG header truncated inside its frame header (SOF)");
      return size_of(F, b.be16(pos + 7), b.be16(pos + 5));
    }
    pos += 2 + length;
  }
}

// ---- PNG -------------------------------------------------------------------------------------

ImageHeader read_png(const Bytes& b) {
  constexpr ImageFormat F = ImageFormat::Png;
  // signature(8), then the IHDR chunk: length(4) = 13, "IHDR", width(4), height(4), ...
  if (!b.has(8, 16)) return problem(F, "PNG header truncated before the end of its IHDR chunk");
  if (!b.equals(12, "IHDR")) return problem(F, "corrupt PNG header (the first chunk is not IHDR)");
  if (b.be32(8) != 13) return problem(F, "corrupt PNG header (IHDR chunk length is not 13)");
  return size_of(F, b.be32(16), b.be32(20));
}

// ---- BMP -------------------------------------------------------------------------------------

ImageHeader read_bmp(const Bytes& b) {
  constexpr ImageFormat F = ImageFormat::Bmp;
  // BITMAPFILEHEADER is 14 bytes; the DIB header that follows starts with its own size.
  if (!b.has(14, 4)) return problem(F, "BMP header truncated before its DIB header");
  const uint32_t dib_size = b.le32(14);
  if (dib_size == 12) {  // BITMAPCOREHEADER (OS/2 1.x): unsigned 16-bit width and height
    if (!b.has(18, 4)) return problem(F, "BMP header truncated inside its BITMAPCOREHEADER");
    return size_of(F, b.le16(18), b.le16(20));
  }
  // BITMAPINFOHEADER (40) and its successors V2–V5 (52, 56, 108, 124), OS/2 2.x (16–64): signed
  // 32-bit width and height, a negative height meaning rows stored top-down.
  if (dib_size < 16) return problem(F, "corrupt BMP header (DIB header size " + std::to_string(dib_size) + ")");
  if (!b.has(18, 8)) return problem(F, "BMP header truncated inside its BITMAPINFOHEADER");
  const int64_t width = static_cast<int32_t>(b.le32(18));
  const int64_t height = static_cast<int32_t>(b.le32(22));
  if (width < 0) return problem(F, "corrupt BMP header (negative width)");
  return size_of(F, width, height < 0 ? -height : height);  // int64: −INT32_MIN fits
}

// ---- PNM (P1–P6) -----------------------------------------------------------------------------

// The whitespace of C isspace() in the "C" locale, as OpenCV's PxM reader uses.
bool pnm_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Reads one decimal header field at `pos` after whitespace and '#' comments (to the end of the
// line). Saturates instead of overflowing: any saturated value is far above every pixel cap.
bool pnm_number(const Bytes& b, size_t& pos, int64_t& value) {
  while (b.has(pos, 1)) {
    if (pnm_space(b[pos])) {
      ++pos;
    } else if (b[pos] == '#') {
      while (b.has(pos, 1) && b[pos] != '\n' && b[pos] != '\r') ++pos;
    } else {
      break;
    }
  }
  if (!b.has(pos, 1) || b[pos] < '0' || b[pos] > '9') return false;
  constexpr int64_t kSaturated = int64_t{1} << 40;
  value = 0;
  for (; b.has(pos, 1) && b[pos] >= '0' && b[pos] <= '9'; ++pos)
    value = value >= kSaturated ? kSaturated : value * 10 + (b[pos] - '0');
  return true;
}

ImageHeader read_pnm(const Bytes& b) {
  constexpr ImageFormat F = ImageFormat::Pnm;
  // "P1".."P6", whitespace, width, whitespace, height (maxval follows, not needed here).
  if (!b.has(2, 1) || !(pnm_space(b[2]) || b[2] == '#')) return problem(F, "corrupt PNM header (no whitespace after the magic number)");
  size_t pos = 2;
  int64_t width = 0, height = 0;
  if (!pnm_number(b, pos, width)) return problem(F, "PNM header truncated or corrupt before its width");
  if (!pnm_number(b, pos, height)) return problem(F, "PNM header truncated or corrupt before its height");
  return size_of(F, width, height);
}

// ---- WebP ------------------------------------------------------------------------------------

ImageHeader read_webp(const Bytes& b) {
  constexpr ImageFormat F = ImageFormat::WebP;
  // "RIFF" size(4) "WEBP", then the first chunk: fourcc(4) size(4) payload at byte 20.
  if (!b.has(12, 8)) return problem(F, "WebP header truncated before its first chunk");
  constexpr size_t p = 20;
  if (b.equals(12, "VP8 ")) {
    // Lossy: frame tag(3), start code 9D 01 2A, then 14-bit width and height (2 scale bits above).
    if (!b.has(p, 10)) return problem(F, "WebP header truncated inside its VP8 frame header");
    if (b[p + 3] != 0x9D || b[p + 4] != 0x01 || b[p + 5] != 0x2A) return problem(F, "corrupt WebP VP8 frame header (bad start code)");
    return size_of(F, b.le16(p + 6) & 0x3FFF, b.le16(p + 8) & 0x3FFF);
  }
  if (b.equals(12, "VP8L")) {
    // Lossless: signature 2F, then 14 bits width − 1 and 14 bits height − 1, little-endian.
    if (!b.has(p, 5)) return problem(F, "WebP header truncated inside its VP8L header");
    if (b[p] != 0x2F) return problem(F, "corrupt WebP VP8L header (bad signature)");
    const uint32_t bits = b.le32(p + 1);
    return size_of(F, int64_t{bits & 0x3FFF} + 1, int64_t{(bits >> 14) & 0x3FFF} + 1);
  }
  if (b.equals(12, "VP8X")) {
    // Extended: flags(1) reserved(3), 24-bit canvas width − 1 and height − 1. libwebp refuses a
    // still image whose frame differs from the canvas, so the canvas bounds what is decoded.
    if (!b.has(p, 10)) return problem(F, "WebP header truncated inside its VP8X chunk");
    return size_of(F, int64_t{b.le24(p + 4)} + 1, int64_t{b.le24(p + 7)} + 1);
  }
  return problem(F, "corrupt WebP header (the first chunk is not VP8, VP8L or VP8X)");
}

// ---- TIFF ------------------------------------------------------------------------------------

ImageHeader read_tiff(const Bytes& b) {
  constexpr ImageFormat F = ImageFormat::Tiff;
  const bool little = b[0] == 'I';
  auto u16 = [&](size_t at) { return little ? b.le16(at) : b.be16(at); };
  auto u32 = [&](size_t at) { return little ? b.le32(at) : b.be32(at); };
  if (!b.has(4, 4)) return problem(F, "TIFF header truncated before its first IFD offset");
  const size_t ifd = u32(4);
  if (!b.has(ifd, 2)) return problem(F, "TIFF header truncated or corrupt (first IFD past the end of the file)");
  const size_t entries = u16(ifd);
  int64_t width = -1, height = -1;
  for (size_t k = 0; k < entries; ++k) {
    const size_t e = ifd + 2 + 12 * k;  // ifd < 2^32 and k < 2^16: no overflow
    if (!b.has(e, 12)) return problem(F, "TIFF header truncated inside its first IFD");
    const uint32_t tag = u16(e);
    if (tag != 256 && tag != 257) continue;  // ImageWidth, ImageLength
    const uint32_t type = u16(e + 2);
    if (u32(e + 4) != 1) return problem(F, "corrupt TIFF header (ImageWidth/ImageLength count is not 1)");
    int64_t value = 0;
    if (type == 3) value = u16(e + 8);       // SHORT, left-justified in the value field
    else if (type == 4) value = u32(e + 8);  // LONG
    else return problem(F, "TIFF ImageWidth/ImageLength of type " + std::to_string(type) + " (qvit reads SHORT and LONG)");
    // A duplicated tag takes the larger value, so no reading of it can be bigger than ours.
    int64_t& slot = tag == 256 ? width : height;
    slot = std::max(slot, value);
  }
  if (width < 0 || height < 0) return problem(F, "corrupt TIFF header (no ImageWidth or ImageLength in the first IFD)");
  return size_of(F, width, height);
}

}  // namespace

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Pnm: return "PNM";
    case ImageFormat::WebP: return "WebP";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::Unknown: break;
  }
  return "unknown";
}

ImageHeader read_image_header(std::span<const uint8_t> data) {
  const Bytes b(data);
  static const char kPng[] = "\x89PNG\r\n\x1a\n";
  if (b.has(0, 3) && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return read_jpeg(b);
  if (b.has(0, 8) && std::memcmp(data.data(), kPng, 8) == 0) return read_png(b);
  if (b.equals(0, "BM")) return read_bmp(b);
  if (b.has(0, 2) && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') return read_pnm(b);
  if (b.equals(0, "RIFF") && b.equals(8, "WEBP")) return read_webp(b);
  if (b.equals(0, "II*") && b.has(3, 1) && b[3] == 0) return read_tiff(b);
  if (b.equals(0, "MM") && b.has(2, 2) && b[2] == 0 && b[3] == '*') return read_tiff(b);
  if ((b.equals(0, "II+") && b.has(3, 1) && b[3] == 0) || (b.equals(0, "MM") && b.has(2, 2) && b[2] == 0 && b[3] == '+'))
    return problem(ImageFormat::Tiff, "BigTIFF, which qvit does not read");
  return problem(ImageFormat::Unknown, "unknown image format");
}

}  // namespace qvit::data
