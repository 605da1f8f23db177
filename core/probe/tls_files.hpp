#pragma once
// Loading the TLS material a site's config names: CA bundles and client identities
// (PEM pair or PKCS#12). Used by config validation (does it load?) and by the prober
// (install it into an SSL_CTX). A PKCS#12 password is read here, used, and wiped; it
// never appears in a returned message.

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/model/config_model.hpp"
#include "core/base/result.hpp"

namespace certheal {

struct X509Deleter { void operator()(X509* cert) const noexcept { X509_free(cert); } };
struct EvpPkeyDeleter { void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); } };
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

struct ClientIdentity {
    X509Ptr certificate;
    EvpPkeyPtr private_key;            // checked to match `certificate`
    std::vector<X509Ptr> chain;        // intermediates, possibly empty
};

// The largest certificate, key or password file certheal reads (a CA bundle of every root
// there is stays far below it).
inline constexpr std::size_t kMaxTlsFileBytes = std::size_t{4} * 1024 * 1024;

// Every certificate in a PEM file; a Failure when the file is missing, unreadable or
// holds no certificate.
Result<std::vector<X509Ptr>> load_certificates(const std::filesystem::path& pem_file);

// The client identity a site presents. Failure messages name the file and what is wrong
// ("key does not match the certificate", "password_env CERT_PW is not set",
// "wrong password or corrupt PKCS#12") and never the password.
Result<ClientIdentity> load_client_identity(const ClientCert& client_cert);

using SharedCertificates = std::shared_ptr<const std::vector<X509Ptr>>;
using SharedIdentity = std::shared_ptr<const ClientIdentity>;

// The files' decoded contents, kept while the files stay as they are. Config validation and
// the prober share one cache, so a certificate, a key or a CA bundle is read and decoded once
// per version of its file, however many sites name it, and not again by the prober after
// validation has loaded it. A file counts as changed when its size or modification time does.
// Failures are not kept: a file that is fixed is read again on the next call. Thread-safe.
class TlsMaterialCache {
public:
    Result<SharedCertificates> certificates(const std::filesystem::path& file);
    Result<SharedIdentity> client_identity(const ClientCert& client_cert);

    // What makes the material of a file or an identity the same: its paths with their size
    // and modification time (the password's source for a PKCS#12, never the password).
    static std::string file_stamp(const std::filesystem::path& file);
    static std::string identity_stamp(const ClientCert& client_cert);
    // An identity's paths and password source: the same key for every version of its files.
    static std::string identity_key(const ClientCert& client_cert);

    std::size_t entries() const;
    std::size_t decoded() const;  // how many times a file was read and decoded (tests)

private:
    struct Certificates {
        std::string stamp;
        SharedCertificates value;
    };
    struct Identity {
        std::string stamp;
        SharedIdentity value;
    };
    mutable std::mutex mutex_;
    std::map<std::string, Certificates> certificates_;  // by path: one version per file
    std::map<std::string, Identity> identities_;        // by the identity's paths
    std::size_t decoded_ = 0;
};

}  // namespace certheal
