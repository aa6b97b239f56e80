#pragma once
// The pixel size an encoded image declares, read from its header bytes alone, so that a small file
// declaring a huge image (a decompression bomb: 736 bytes of JPEG saying 30000×30000) is refused
// before any decoder allocates for it. Reads every format decode_image_bytes accepts:
//   JPEG  the first SOFn segment (SOF0–SOF15 but DHT C4, JPG C8, DAC CC), reached by walking the
//         marker segments from SOI;
//   PNG   the IHDR chunk, which the format requires to come first;
//   BMP   BITMAPCOREHEADER (16-bit sizes) or BITMAPINFOHEADER and later (32-bit, a negative height
//         meaning a top-down bitmap);
//   PNM   P1–P6: the ASCII width and height, '#' comments allowed between the fields;
//   WebP  RIFF/WEBP with a VP8 (lossy), VP8L (lossless) or VP8X (extended: canvas size) chunk;
//   TIFF  classic TIFF (II or MM): ImageWidth/ImageLength of the first IFD, SHORT or LONG.
// Every read is bounds-checked against the bytes present: any input, however short or hostile,
// yields a result, never a read past the end (the reader is fuzzed).
#include <cstdint>
#include <span>
#include <string>

namespace qvit::data {

enum class ImageFormat { Unknown, Jpeg, Png, Bmp, Pnm, WebP, Tiff };

// "JPEG", "PNG", ...; "unknown" for Unknown.
const char* image_format_name(ImageFormat format);

struct ImageHeader {
  ImageFormat format = ImageFormat::Unknown;  // from the file's signature
  int64_t width = 0;
  int64_t height = 0;
  // Empty when width and height were read; else why not ("truncated PNG header", ...). Unknown
  // formats always have a problem.
  std::string problem;

  bool ok() const { return problem.empty(); }
};

// Identifies the format by its signature and reads the declared size. Never throws for bad
// input; sizes are as declared (possibly 0 or far above any cap) and never negative.
ImageHeader read_image_header(std::span<const uint8_t> data);

}  // namespace qvit::data
