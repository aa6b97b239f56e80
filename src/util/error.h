#pragma once
// Errors in qvit: user-facing failures are typed exceptions carrying one clear line of context
// (file, node, image, field); the CLI logs that line once and exits non-zero. Internal invariants
// use QVIT_CHECK, which also throws (so a broken invariant is still a clean error, never UB).
#include <stdexcept>
#include <string>

namespace qvit {

// Bad input from a user: a malformed model, a missing image, a bad config field.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Programming error detected at run time (a bug in qvit, not in the input).
class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& what) : std::logic_error(what) {}
};

[[noreturn]] void throw_check_failure(const char* cond, const char* file, int line, const std::string& msg);

}  // namespace qvit

#define QVIT_CHECK(cond, msg)                                                       \
  do {                                                                              \
    if (!(cond)) ::qvit::throw_check_failure(#cond, __FILE__, __LINE__, (msg));     \
  } while (0)
