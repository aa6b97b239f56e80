#include "bench_common.h"

#include <cstring>
#include <random>

#include "util/error.h"

namespace qvit::bench {

std::optional<std::string> take_flag(int& argc, char** argv, const std::string& name) {
  const std::string eq = "--" + name + "=", bare = "--" + name;
  std::optional<std::string> value;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind(eq, 0) == 0) {
      value = a.substr(eq.size());
    } else if (a == bare) {
      value = "";
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
  return value;
}

int64_t parse_positive(const std::string& s, const std::string& what) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty() || v <= 0) throw Error(what + ": expected a positive integer, got '" + s + "'");
  return v;
}

std::vector<int64_t> parse_int_list(const std::string& s, const std::string& what) {
  std::vector<int64_t> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = s.find(',', start);
    out.push_back(parse_positive(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start), what));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  Tensor t(DType::Float32, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : t.values<float>()) v = dist(rng);
  return t;
}

}  // namespace qvit::bench
