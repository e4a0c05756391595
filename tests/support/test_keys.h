// Generates throwaway signing keys for tests (OpenSSL) and writes them as PEM files.
#pragma once

#include <string>

namespace llmix::testing {

struct PemKeyFiles {
  std::string private_pem;  // path
  std::string public_pem;   // path
};

// `type` is "ED25519" or "P-256". Aborts the test binary on OpenSSL failure.
PemKeyFiles WriteTestKeyPair(const std::string& dir, const std::string& name,
                             const std::string& type);

}  // namespace llmix::testing
