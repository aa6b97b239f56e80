// Static check: the reference kernels use int32 arithmetic only. Reads every file under
// src/kernels/reference/ and fails on float, double, long or any 64-bit integer type name
// outside comments and string literals.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace qvit {
namespace {

// Source text with comments and string/char literals blanked out.
std::string strip_comments_and_strings(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "//") == 0) {
      while (i < s.size() && s[i] != '\n') ++i;
      out += '\n';
    } else if (s.compare(i, 2, "/*") == 0) {
      const size_t end = s.find("*/", i + 2);
      i = end == std::string::npos ? s.size() : end + 1;
      out += ' ';
    } else if (s[i] == '"' || s[i] == '\'') {
      const char quote = s[i];
      for (++i; i < s.size() && s[i] != quote; ++i)
        if (s[i] == '\\') ++i;
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// Identifiers and keywords of `code`, in order.
std::vector<std::string> tokens_of(const std::string& code) {
  std::vector<std::string> tokens;
  std::string token;
  for (size_t i = 0; i <= code.size(); ++i) {
    const char ch = i < code.size() ? code[i] : ' ';
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') {
      token += ch;
    } else if (!token.empty()) {
      tokens.push_back(token);
      token.clear();
    }
  }
  return tokens;
}

std::string code_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream buf;
  buf << in.rdbuf();
  return strip_comments_and_strings(buf.str());
}

TEST(KernelsInt32Only, ReferenceKernelsHaveNoFloatOrWideTypes) {
  const std::filesystem::path dir = std::filesystem::path(QVIT_SOURCE_DIR) / "src" / "kernels" / "reference";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++files;
    for (const std::string& token : tokens_of(code_of(entry.path()))) {
      const bool banned = token == "float" || token == "double" || token == "long" ||
                          token.find("int64") != std::string::npos || token.find("uint64") != std::string::npos;
      EXPECT_FALSE(banned) << entry.path().filename() << " uses '" << token << "'";
    }
  }
  EXPECT_GE(files, 10);
}

// The integer runtime's op layer (attribute decoding, the fast matmul, the mean) shapes tensors with
// int64 (the IR's Shape) but must not compute with floats either: no float is reachable at run time.
TEST(KernelsInt32Only, IntegerRuntimeOpsHaveNoFloat) {
  const std::filesystem::path file = std::filesystem::path(QVIT_SOURCE_DIR) / "src" / "intgraph" / "int_ops.cc";
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  const std::vector<std::string> tokens = tokens_of(code_of(file));
  EXPECT_GT(tokens.size(), 100u);
  for (const std::string& token : tokens)
    EXPECT_FALSE(token == "float" || token == "double") << file.filename() << " uses '" << token << "'";
}

TEST(KernelsInt32Only, StripperKeepsCodeAndDropsComments) {
  const std::string s = strip_comments_and_strings("int a; // double\n/* float */ int b = \"long\";");
  EXPECT_EQ(s.find("double"), std::string::npos);
  EXPECT_EQ(s.find("float"), std::string::npos);
  EXPECT_EQ(s.find("long"), std::string::npos);
  EXPECT_NE(s.find("int b"), std::string::npos);
}

}  // namespace
}  // namespace qvit
