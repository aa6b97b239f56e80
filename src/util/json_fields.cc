#include "util/json_fields.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "util/error.h"
#include "util/limits.h"

namespace qvit {

using nlohmann::json;

namespace {

// Deepest nesting of arrays/objects in `text`, stopping once it passes `cap`. A prescan, because
// printing or destroying a value 100k levels deep recurses as deep and overflows the stack.
int nesting_depth(const std::string& text, int cap) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      if (ch == '\\') ++i;
      else if (ch == '"') in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > deepest && (deepest = depth) > cap) return deepest;
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

nlohmann::json JsonFields::parse(const std::string& text, bool allow_comments) const {
  const int cap = resource_limits().max_json_depth;
  if (nesting_depth(text, cap) > cap)
    throw Error(source_ + ": invalid JSON: nested more than " + std::to_string(cap) + " levels deep");
  try {
    return json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/true, allow_comments);
  } catch (const json::exception& e) {
    // parse_error (syntax) and out_of_range (a number like 1e999 that no double holds):
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." → keep the part after the tag.
    std::string msg = e.what();
    if (auto p = msg.find("] "); p != std::string::npos) msg = msg.substr(p + 2);
    throw Error(source_ + ": invalid JSON: " + clip_for_message(msg));
  }
}

std::string JsonFields::echo(const json& v) {
  return clip_for_message(v.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string JsonFields::read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void JsonFields::fail(const std::string& field, const std::string& problem) const {
  throw Error(source_ + ": field \"" + clip_for_message(field) + "\": " + problem);
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
  if (!v.is_object()) fail(prefix + key, "expected an object, got " + echo(v));
  return v;
}

const json& JsonFields::array(const json& v, const std::string& field) const {
  if (!v.is_array()) fail(field, "expected an array, got " + echo(v));
  return v;
}

const json& JsonFields::object(const json& v, const std::string& field) const {
  if (!v.is_object()) fail(field, "expected an object, got " + echo(v));
  return v;
}

int64_t JsonFields::integer(const json& v, const std::string& field, int64_t lo, int64_t hi) const {
  if (!v.is_number_integer()) fail(field, "expected an integer, got " + echo(v));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    fail(field, echo(v) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) fail(field, std::to_string(x) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

double JsonFields::number(const json& v, const std::string& field, double lo, double hi) const {
  if (!v.is_number()) fail(field, "expected a number, got " + echo(v));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) fail(field, echo(v) + " is outside [" + json(lo).dump() + ", " + json(hi).dump() + "]");
  return x;
}

bool JsonFields::boolean(const json& v, const std::string& field) const {
  if (!v.is_boolean()) fail(field, "expected true or false, got " + echo(v));
  return v.get<bool>();
}

std::string JsonFields::string(const json& v, const std::string& field) const {
  if (!v.is_string()) fail(field, "expected a string, got " + echo(v));
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
