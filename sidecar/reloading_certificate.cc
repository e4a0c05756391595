#include "sidecar/reloading_certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace llmix::sidecar {

struct ReloadingCertificate::Pair {
  X509* leaf = nullptr;
  STACK_OF(X509) * chain = nullptr;
  EVP_PKEY* key = nullptr;
  ~Pair() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

namespace {

template <typename T>
absl::StatusOr<T> ReadPem(const std::string& path, T (*read)(BIO*, T*, pem_password_cb*, void*),
                          bool all, STACK_OF(X509) * rest) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (!bio) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  T first = read(bio, nullptr, nullptr, nullptr);
  if (first && all && rest) {
    while (X509* more = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) sk_X509_push(rest, more);
  }
  BIO_free(bio);
  if (!first) return absl::InvalidArgumentError(absl::StrCat(path, ": no PEM object"));
  return first;
}

}  // namespace

ReloadingCertificate::ReloadingCertificate(std::string cert_path, std::string key_path,
                                           Logger* logger)
    : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)), logger_(logger) {}

ReloadingCertificate::~ReloadingCertificate() = default;

std::string ReloadingCertificate::Fingerprint() const {
  std::string id;
  for (const std::string* path : {&cert_path_, &key_path_}) {
    struct stat st {};
    if (stat(path->c_str(), &st) != 0) return "";
    absl::StrAppend(&id, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, ";");
  }
  return id;
}

absl::Status ReloadingCertificate::Load() {
  const std::string id = Fingerprint();
  auto pair = std::make_shared<Pair>();
  pair->chain = sk_X509_new_null();
  auto leaf = ReadPem<X509*>(cert_path_, PEM_read_bio_X509, true, pair->chain);
  if (!leaf.ok()) return leaf.status();
  pair->leaf = *leaf;
  auto key = ReadPem<EVP_PKEY*>(key_path_, PEM_read_bio_PrivateKey, false, nullptr);
  if (!key.ok()) return key.status();
  pair->key = *key;
  if (X509_check_private_key(pair->leaf, pair->key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(key_path_, ": private key does not match ", cert_path_));
  }
  absl::MutexLock lock(&mu_);
  pair_ = std::move(pair);
  loaded_id_ = id;
  return absl::OkStatus();
}

std::shared_ptr<const ReloadingCertificate::Pair> ReloadingCertificate::Current() {
  {
    absl::MutexLock lock(&mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now < next_check_) return pair_;
    next_check_ = now + std::chrono::seconds(1);
  }
  const std::string id = Fingerprint();
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    changed = !id.empty() && id != loaded_id_;
  }
  if (changed) {
    if (auto st = Load(); st.ok()) {
      logger_->Info("tls certificate reloaded");
    } else {
      const std::string error(st.message());
      logger_->Warn("tls certificate reload failed; keeping the previous one",
                    {{"error", std::string_view(error)}});
    }
  }
  absl::MutexLock lock(&mu_);
  return pair_;
}

int ReloadingCertificate::CertCallback(SSL* ssl, void* arg) {
  auto pair = static_cast<ReloadingCertificate*>(arg)->Current();
  if (!pair) return 1;  // the context's own certificate
  if (SSL_use_certificate(ssl, pair->leaf) != 1 || SSL_use_PrivateKey(ssl, pair->key) != 1 ||
      SSL_set1_chain(ssl, pair->chain) != 1) {
    return 0;
  }
  return 1;
}

void ReloadingCertificate::Install(SSL_CTX* ctx) { SSL_CTX_set_cert_cb(ctx, CertCallback, this); }

}  // namespace llmix::sidecar
