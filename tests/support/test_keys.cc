#include "tests/support/test_keys.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>

namespace llmix::testing {

PemKeyFiles WriteTestKeyPair(const std::string& dir, const std::string& name,
                             const std::string& type) {
  EVP_PKEY* key = type == "ED25519" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) std::abort();
  PemKeyFiles out{dir + "/" + name + ".key.pem", dir + "/" + name + ".pub.pem"};
  FILE* f = std::fopen(out.private_pem.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  f = std::fopen(out.public_pem.c_str(), "w");
  PEM_write_PUBKEY(f, key);
  std::fclose(f);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace llmix::testing
