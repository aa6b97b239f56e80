#include "data/subset.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

namespace qvit::data {

std::vector<int64_t> select_first(const Dataset& dataset, int64_t count) {
  QVIT_CHECK(count >= 0, "select_first: negative count");
  std::vector<int64_t> indices(static_cast<size_t>(std::min(count, dataset.size())));
  std::iota(indices.begin(), indices.end(), int64_t{0});
  return indices;
}

std::vector<int64_t> select_first_per_class(const Dataset& dataset, int64_t per_class) {
  QVIT_CHECK(per_class >= 0, "select_first_per_class: negative count");
  std::vector<int64_t> indices;
  std::unordered_map<int64_t, int64_t> taken;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    int64_t& n = taken[dataset.label(i)];
    if (n < per_class) {
      ++n;
      indices.push_back(i);
    }
  }
  return indices;
}

}  // namespace qvit::data
