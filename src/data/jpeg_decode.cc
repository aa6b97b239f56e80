#include "data/jpeg_decode.h"

#include <spdlog/spdlog.h>

#include <csetjmp>
#include <cstdio>

#include <jpeglib.h>

#include "util/limits.h"

namespace qvit::data {
namespace {

// libjpeg reports through these: a fatal error longjmps back, warnings are collected.
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char first_warning[JMSG_LENGTH_MAX];
  int warnings;
  char fatal[JMSG_LENGTH_MAX];
};

void on_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->fatal);
  std::longjmp(err->jump, 1);
}

void on_emit_message(j_common_ptr cinfo, int level) {
  // level −1: a warning (corrupt data); 0 and above: trace messages, which libjpeg keeps quiet.
  if (level >= 0) return;
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (err->warnings++ == 0) (*cinfo->err->format_message)(cinfo, err->first_warning);
}

}  // namespace

std::optional<ImageU8> decode_jpeg(std::span<const uint8_t> data, const std::string& name) {
  // Everything that lives across setjmp is plain data or allocated before it.
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error_exit;
  err.pub.emit_message = on_emit_message;
  err.warnings = 0;
  err.first_warning[0] = err.fatal[0] = '\0';
  ImageU8* volatile image = nullptr;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    delete image;
    throw BadImageError(name + ": cannot decode JPEG: " + err.fatal);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data.data(), static_cast<unsigned long>(data.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    return std::nullopt;
  }
  const bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  // Second guard against decompression bombs (decode_image_bytes checks the header first): the
  // size libjpeg itself will produce, before it or we allocate anything for the pixels.
  jpeg_calc_output_dimensions(&cinfo);
  try {
    check_image_pixels(cinfo.output_width, cinfo.output_height, name);
  } catch (const Error& e) {
    jpeg_destroy_decompress(&cinfo);
    throw BadImageError(e.what());
  }
  jpeg_start_decompress(&cinfo);
  image = new ImageU8(static_cast<int>(cinfo.output_height), static_cast<int>(cinfo.output_width), gray ? 1 : 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = image->row(static_cast<int>(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (err.warnings)
    spdlog::warn("{}: libjpeg: {}{} (decoded anyway, as PIL does)", name, err.first_warning,
                 err.warnings > 1 ? " (and " + std::to_string(err.warnings - 1) + " more warning(s))" : std::string());
  ImageU8 out = std::move(*image);
  delete image;
  return out;
}

}  // namespace qvit::data
