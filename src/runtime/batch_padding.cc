#include "runtime/batch_padding.h"

#include <cstring>

namespace qvit {

Tensor pad_batch(const Tensor& images, int64_t batch) {
  const int64_t n = images.shape()[0];
  if (n == batch) return images;
  if (n > batch) throw InternalError("batch of " + std::to_string(n) + " is larger than the model's " + std::to_string(batch));
  Shape s = images.shape();
  s[0] = batch;
  Tensor p(images.dtype(), s);
  std::memcpy(p.raw(), images.raw(), images.nbytes());
  return p;
}

Tensor first_rows(Tensor t, int64_t n) {
  if (t.shape()[0] == n) return t;
  Shape s = t.shape();
  s[0] = n;
  Tensor out(t.dtype(), s);
  std::memcpy(out.raw(), t.raw(), out.nbytes());
  return out;
}

}  // namespace qvit
