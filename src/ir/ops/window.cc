#include "ir/ops/window.h"

namespace qvit {
namespace {

std::string count_message(const char* attr, size_t got, size_t want, const Shape& x) {
  return "attribute '" + std::string(attr) + "' has " + std::to_string(got) + " entries, expected " + std::to_string(want) +
         " for input " + shape_str(x) + " (" + std::to_string(x.size() - 2) + " spatial axes)";
}

// The attribute's list (or `fallback` when absent), which must have `want` entries ≥ `min`.
std::vector<int64_t> attr_list(const OpCall& c, const char* attr, size_t want, int64_t fallback, int64_t min, const Shape& x) {
  if (!c.node.has_attr(attr)) return std::vector<int64_t>(want, fallback);
  std::vector<int64_t> v = c.node.attr_ints(attr);
  if (v.size() != want) c.fail(count_message(attr, v.size(), want, x));
  for (int64_t e : v)
    if (e < min) c.fail("attribute '" + std::string(attr) + "' " + shape_str(v) + " has an entry below " + std::to_string(min));
  return v;
}

}  // namespace

WindowGeometry window_geometry(const OpCall& c, const Shape& x, const WindowOptions& options) {
  if (x.size() < 3) c.fail("input must have rank >= 3 ([N, C, spatial...]), got shape " + shape_str(x));
  const size_t spatial = x.size() - 2;
  WindowGeometry g;
  g.in.assign(x.begin() + 2, x.end());
  if (options.weight_kernel.empty()) {
    if (!c.node.has_attr("kernel_shape")) c.fail("missing required attribute 'kernel_shape'");
    g.kernel = attr_list(c, "kernel_shape", spatial, 1, 1, x);
  } else {
    g.kernel = options.weight_kernel;
    if (g.kernel.size() != spatial) c.fail("weight has " + std::to_string(g.kernel.size()) + " spatial dims, input " + std::to_string(spatial));
    for (int64_t k : g.kernel)
      if (k < 1) c.fail("weight has an empty kernel " + shape_str(g.kernel));
    if (c.node.has_attr("kernel_shape") && attr_list(c, "kernel_shape", spatial, 1, 1, x) != g.kernel)
      c.fail("attribute 'kernel_shape' " + shape_str(c.node.attr_ints("kernel_shape")) + " does not match the weight's kernel " +
             shape_str(g.kernel));
  }
  g.strides = attr_list(c, "strides", spatial, 1, 1, x);
  g.dilations = attr_list(c, "dilations", spatial, 1, 1, x);
  const std::vector<int64_t> pads = attr_list(c, "pads", 2 * spatial, 0, 0, x);
  const bool ceil_mode = options.allow_ceil_mode && c.node.attr_int("ceil_mode", 0) != 0;
  const std::string auto_pad = c.node.attr_string("auto_pad", "NOTSET");
  const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  if (!same && auto_pad != "NOTSET" && auto_pad != "VALID")
    c.fail("attribute 'auto_pad' is '" + auto_pad + "', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  g.pads_begin.resize(spatial);
  g.pads_end.resize(spatial);
  g.out.resize(spatial);
  for (size_t d = 0; d < spatial; ++d) {
    const int64_t in = g.in[d], s = g.strides[d];
    // Extent of one window: dilation·(kernel − 1) + 1.
    const int64_t span = shape_add(c, shape_mul(c, g.dilations[d], g.kernel[d] - 1), 1);
    if (same) {
      g.out[d] = in == 0 ? 0 : (in - 1) / s + 1;  // ceil(in / s) without in + s overflowing
      const int64_t need = g.out[d] == 0 ? 0 : shape_add(c, shape_mul(c, g.out[d] - 1, s), span);
      const int64_t total = need > in ? need - in : 0;
      g.pads_begin[d] = auto_pad == "SAME_LOWER" ? total - total / 2 : total / 2;
      g.pads_end[d] = total - g.pads_begin[d];
      continue;
    }
    const int64_t pb = auto_pad == "VALID" ? 0 : pads[d], pe = auto_pad == "VALID" ? 0 : pads[d + spatial];
    const int64_t padded = shape_add(c, in, shape_add(c, pb, pe));
    if (padded < span)
      c.fail("window of extent " + std::to_string(span) + " (kernel " + std::to_string(g.kernel[d]) + ", dilation " +
             std::to_string(g.dilations[d]) + ") is larger than spatial axis " + std::to_string(d) + " of size " + std::to_string(in) +
             " padded to " + std::to_string(padded));
    const int64_t room = padded - span;
    // floor or ceil of room / s, + 1 (the ceil without room + s overflowing).
    g.out[d] = (ceil_mode && room > 0 ? (room - 1) / s + 1 : room / s) + 1;
    if (ceil_mode) {
      // A last window that would start in the end padding is dropped (as PyTorch does): window
      // w starts at w·s, and w·s ≥ in + pb ⇔ w ≥ ceil((in + pb) / s) (no product to overflow).
      const int64_t end = in + pb;
      if (g.out[d] - 1 >= (end == 0 ? 0 : (end - 1) / s + 1)) --g.out[d];
    }
    g.pads_begin[d] = pb;
    g.pads_end[d] = pe;
  }
  return g;
}

Window2d window_2d(const WindowGeometry& g) {
  const bool one = g.in.size() == 1;
  const size_t o = one ? 0 : 1;  // index of the width axis
  return {one ? 1 : g.in[0],         g.in[o], one ? 1 : g.kernel[0],     g.kernel[o],
          one ? 1 : g.strides[0],    g.strides[o], one ? 1 : g.dilations[0], g.dilations[o],
          one ? 0 : g.pads_begin[0], g.pads_begin[o], one ? 1 : g.out[0], g.out[o]};
}

}  // namespace qvit
