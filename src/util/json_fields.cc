#include "util/json_fields.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace qvit {

using nlohmann::json;

nlohmann::json JsonFields::parse(const std::string& text) const {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." → keep from "parse error".
    if (auto p = msg.find("parse error"); p != std::string::npos) msg = msg.substr(p);
    throw Error(source_ + ": invalid JSON: " + msg);
  }
}

std::string JsonFields::read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void JsonFields::fail(const std::string& field, const std::string& problem) const {
  throw Error(source_ + ": field \"" + field + "\": " + problem);
}

void JsonFields::fail_file(const std::string& problem) const { throw Error(source_ + ": " + problem); }

void JsonFields::reject_unknown_keys(const json& obj, const std::set<std::string>& allowed, const std::string& prefix) const {
  for (const auto& [key, value] : obj.items()) {
    if (!allowed.count(key)) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      fail(prefix + key, "unknown key (known keys: " + known + ")");
    }
  }
}

const json& JsonFields::require(const json& obj, const std::string& key, const std::string& prefix) const {
  auto it = obj.find(key);
  if (it == obj.end()) fail(prefix + key, "missing (required)");
  return *it;
}

const json& JsonFields::require_object(const json& obj, const std::string& key, const std::string& prefix) const {
  const json& v = require(obj, key, prefix);
  if (!v.is_object()) fail(prefix + key, "expected an object, got " + v.dump());
  return v;
}

int64_t JsonFields::integer(const json& v, const std::string& field, int64_t lo, int64_t hi) const {
  if (!v.is_number_integer()) fail(field, "expected an integer, got " + v.dump());
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) fail(field, std::to_string(x) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

double JsonFields::number(const json& v, const std::string& field, double lo, double hi) const {
  if (!v.is_number()) fail(field, "expected a number, got " + v.dump());
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) fail(field, v.dump() + " is outside [" + json(lo).dump() + ", " + json(hi).dump() + "]");
  return x;
}

bool JsonFields::boolean(const json& v, const std::string& field) const {
  if (!v.is_boolean()) fail(field, "expected true or false, got " + v.dump());
  return v.get<bool>();
}

std::string JsonFields::string(const json& v, const std::string& field) const {
  if (!v.is_string()) fail(field, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

std::string JsonFields::choice(const json& v, const std::string& field, const std::set<std::string>& allowed) const {
  const std::string s = string(v, field);
  if (!allowed.count(s)) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail(field, "\"" + s + "\" is not one of: " + list);
  }
  return s;
}

}  // namespace qvit
