#pragma once
// Loading the TLS material a site's config names: CA bundles and client identities
// (PEM pair or PKCS#12). Used by config validation (does it load?) and by the prober
// (install it into an SSL_CTX). A PKCS#12 password is read here, used, and wiped; it
// never appears in a returned message.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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

// Where a key that is not in a file lives (a Windows certificate store's CNG or CryptoAPI
// provider), and what that provider cannot sign, so that the TLS context offers only what it can.
struct KeyHome {
    std::string thumbprint;  // SHA-1 of the certificate, upper-case hex
    std::string store;       // "LocalMachine\My"
    std::string provider;    // "the CNG key storage provider \"Microsoft Software Key Storage Provider\""
    // The signature algorithms the provider can make, as an OpenSSL list for client
    // authentication (SSL_CTX_set1_client_sigalgs_list); empty: every one TLS asks for.
    std::string signature_algorithms;
    bool signs_tls13 = true;  // false: no RSA-PSS, so TLS 1.2 at most
    std::string limitation;   // what that means for a handshake, a sentence; empty when nothing
    // Why the provider refused to sign since this was last asked, if it did (a failed
    // handshake says it).
    std::function<std::optional<std::string>()> last_signing_failure;
};

struct ClientIdentity {
    X509Ptr certificate;
    EvpPkeyPtr private_key;            // checked to match `certificate`
    std::vector<X509Ptr> chain;        // intermediates, possibly empty
    std::optional<KeyHome> key_home;   // set when the key signs where it lives (a store)
};

// The largest certificate, key or password file certheal reads (a CA bundle of every root
// there is stays far below it).
inline constexpr std::size_t kMaxTlsFileBytes = std::size_t{4} * 1024 * 1024;

// Every certificate in a PEM file; a Failure when the file is missing, unreadable or
// holds no certificate.
Result<std::vector<X509Ptr>> load_certificates(const std::filesystem::path& pem_file);

// The client identity a site presents from its files. Failure messages name the file and what
// is wrong ("key does not match the certificate", "password_env CERT_PW is not set",
// "wrong password or corrupt PKCS#12") and never the password. A store certificate is no file:
// ClientIdentitySource selects it, and this fails for it.
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
