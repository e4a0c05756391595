// Helpers for the registry tests: a self-deleting temp directory, file writing, and checks of
// LLMix-style errors ({"type", "message"}) against registry Statuses. Not thread-safe.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "registry/errors.h"
#include "registry/fs_util.h"

namespace llmix::registry::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/llmix-registry-test-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    path_ = p != nullptr ? p : "/tmp";
  }
  ~TempDir() { (void)RemoveAll(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& rel) const { return path_ + "/" + rel; }
  void Write(const std::string& rel, const std::string& text) const {
    ASSERT_TRUE(WriteFileSynced(Sub(rel), text).ok()) << rel;
  }
  std::string Read(const std::string& rel) const {
    auto r = ReadFileBytes(Sub(rel));
    return r.ok() ? *r : std::string("<missing>");
  }

 private:
  std::string path_;
};

// `status` is an LLMix error of `expected["type"]` with `expected["message"]` (after replacing
// `placeholder` by `value` in the expected message).
inline void ExpectLlmixError(const absl::Status& status, const nlohmann::json& expected,
                             const std::string& placeholder = "", const std::string& value = "") {
  ASSERT_FALSE(status.ok()) << "expected error " << expected.dump();
  std::string message = expected.at("message").get<std::string>();
  if (!placeholder.empty()) message = absl::StrReplaceAll(message, {{placeholder, value}});
  EXPECT_EQ(ErrorTypeName(status).value_or("<none>"), expected.at("type").get<std::string>());
  EXPECT_EQ(std::string(status.message()), message);
}

}  // namespace llmix::registry::testing
