// A TLS server certificate that follows its files: on each handshake the current cert/key
// pair is served, and the files are re-read (at most once a second) when they change, as when
// cert-manager renews a Secret and the kubelet swaps the mounted files. A pair that fails to
// load (torn update, key not matching) is skipped and the last good one kept. Thread-safe.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"

namespace llmix::sidecar {

class ReloadingCertificate {
 public:
  ReloadingCertificate(std::string cert_path, std::string key_path, Logger* logger);
  ~ReloadingCertificate();
  ReloadingCertificate(const ReloadingCertificate&) = delete;
  ReloadingCertificate& operator=(const ReloadingCertificate&) = delete;

  // Loads the files once; an error names the file.
  absl::Status Load();
  // Makes `ctx` ask this object for the certificate on every handshake.
  void Install(SSL_CTX* ctx);

 private:
  struct Pair;
  static int CertCallback(SSL* ssl, void* arg);
  std::shared_ptr<const Pair> Current();
  std::string Fingerprint() const;  // of the files' identity (inode, size, mtime)

  const std::string cert_path_, key_path_;
  Logger* logger_;
  absl::Mutex mu_;
  std::shared_ptr<const Pair> pair_ ABSL_GUARDED_BY(mu_);
  std::string loaded_id_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point next_check_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix::sidecar
