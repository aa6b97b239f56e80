#pragma once
// Strict reading of user JSON files (configs, recipes, calibration results): every error is one
// line `<file>: field "<path>": <problem>`, and unknown keys are errors (a typo must not be
// silently ignored).
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace qvit {

class JsonFields {
 public:
  explicit JsonFields(std::string source) : source_(std::move(source)) {}

  // Parses text; a syntax error, a number that does not fit a double (1e999) or nesting deeper
  // than resource_limits().max_json_depth is one error naming the file (and position).
  nlohmann::json parse(const std::string& text, bool allow_comments = false) const;
  // A value as it appears in an error message: its JSON text, clipped to a bounded length.
  static std::string echo(const nlohmann::json& v);
  // Reads and parses a file; missing/unreadable files are errors naming it.
  static std::string read_file(const std::string& path);

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const;
  [[noreturn]] void fail_file(const std::string& problem) const;

  void reject_unknown_keys(const nlohmann::json& obj, const std::set<std::string>& allowed, const std::string& prefix) const;
  const nlohmann::json& require(const nlohmann::json& obj, const std::string& key, const std::string& prefix) const;
  const nlohmann::json& require_object(const nlohmann::json& obj, const std::string& key, const std::string& prefix) const;

  // An integer in [lo, hi]; integers beyond int64 (unsigned 2^64−1) are range errors too.
  // `v` itself, when it is an array (an object); else a field error.
  const nlohmann::json& array(const nlohmann::json& v, const std::string& field) const;
  const nlohmann::json& object(const nlohmann::json& v, const std::string& field) const;
  // "field[i]", the name of an array element in messages.
  static std::string index(const std::string& field, size_t i) { return field + "[" + std::to_string(i) + "]"; }

  int64_t integer(const nlohmann::json& v, const std::string& field, int64_t lo, int64_t hi) const;
  double number(const nlohmann::json& v, const std::string& field, double lo, double hi) const;
  bool boolean(const nlohmann::json& v, const std::string& field) const;
  std::string string(const nlohmann::json& v, const std::string& field) const;
  // One of `allowed`.
  std::string choice(const nlohmann::json& v, const std::string& field, const std::set<std::string>& allowed) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

}  // namespace qvit
