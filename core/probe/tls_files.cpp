#include "core/probe/tls_files.hpp"
#include "core/base/text.hpp"

#include "core/base/bounded_input.hpp"
#include "core/probe/client_cert_selection.hpp"
#include "core/model/certificate_stores.hpp"

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

namespace certheal {
namespace {

struct BioDeleter { void operator()(BIO* bio) const noexcept { BIO_free(bio); } };
struct Pkcs12Deleter { void operator()(PKCS12* p12) const noexcept { PKCS12_free(p12); } };
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using Pkcs12Ptr = std::unique_ptr<PKCS12, Pkcs12Deleter>;

// Holds a password and wipes it when it goes out of scope, whatever path we leave by.
class SecretString {
public:
    SecretString() = default;
    explicit SecretString(std::string value) : value_(std::move(value)) {}
    SecretString(const SecretString&) = delete;
    SecretString& operator=(const SecretString&) = delete;
    ~SecretString() { wipe(); }
    std::string& get() noexcept { return value_; }
    void wipe() noexcept {
        if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
        value_.clear();
    }

private:
    std::string value_;
};


Failure invalid(std::string message) {
    return Failure{std::make_error_code(std::errc::invalid_argument), std::move(message)};
}

BioPtr memory_bio(const std::string& content) {
    return BioPtr(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
}

// An encrypted PEM key would otherwise make OpenSSL prompt on the console.
int refuse_password_prompt(char*, int, int, void*) { return -1; }

std::vector<X509Ptr> parse_certificates(const std::string& content) {
    std::vector<X509Ptr> certificates;
    BioPtr bio = memory_bio(content);
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, refuse_password_prompt, nullptr)) {
        certificates.emplace_back(cert);
    }
    ERR_clear_error();  // the loop always ends on "no start line"
    if (certificates.empty()) {
        // A single DER certificate is common on Windows (.cer); accept it too.
        const auto* der = reinterpret_cast<const unsigned char*>(content.data());
        if (X509* cert = d2i_X509(nullptr, &der, static_cast<long>(content.size()))) {
            certificates.emplace_back(cert);
        }
        ERR_clear_error();
    }
    return certificates;
}

Result<ClientIdentity> load_pem_identity(const PemClientCert& pem) {
    auto cert_content = read_file_bounded(pem.cert_file, "cert_file", kMaxTlsFileBytes);
    if (!cert_content) return cert_content.error();
    std::vector<X509Ptr> certificates = parse_certificates(cert_content.value());
    if (certificates.empty()) {
        return invalid("cert_file " + quoted(pem.cert_file) + " holds no certificate in PEM or DER form");
    }

    auto key_content = read_file_bounded(pem.key_file, "key_file", kMaxTlsFileBytes);
    if (!key_content) return key_content.error();
    BioPtr key_bio = memory_bio(key_content.value());
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, refuse_password_prompt, nullptr));
    if (!key) {
        ERR_clear_error();
        const bool encrypted = key_content.value().find("ENCRYPTED") != std::string::npos;
        OPENSSL_cleanse(key_content.value().data(), key_content.value().size());
        if (encrypted) {
            return invalid("key_file " + quoted(pem.key_file) +
                           " holds an encrypted private key; certheal cannot ask for its password, so use "
                           "a PKCS#12 file with password_env or password_file instead");
        }
        return invalid("key_file " + quoted(pem.key_file) + " holds no private key in PEM form");
    }
    OPENSSL_cleanse(key_content.value().data(), key_content.value().size());

    if (X509_check_private_key(certificates.front().get(), key.get()) != 1) {
        ERR_clear_error();
        return invalid("the key in key_file " + quoted(pem.key_file) +
                       " does not match the certificate in cert_file " + quoted(pem.cert_file));
    }

    ClientIdentity identity;
    identity.certificate = std::move(certificates.front());
    identity.private_key = std::move(key);
    for (std::size_t i = 1; i < certificates.size(); ++i) identity.chain.push_back(std::move(certificates[i]));
    return identity;
}

Result<Done> read_pfx_password(const PfxClientCert& pfx, SecretString& password) {
    if (pfx.password_env) {
        const char* value = std::getenv(pfx.password_env->c_str());
        if (value == nullptr) {
            return Failure{std::make_error_code(std::errc::invalid_argument),
                           "password_env " + *pfx.password_env + " is not set in certheal's environment, so "
                           "the PKCS#12 file " + quoted(pfx.pfx_file) + " cannot be opened"};
        }
        password.get().assign(value);
    } else if (pfx.password_file) {
        auto content = read_file_bounded(*pfx.password_file, "password_file", kMaxTlsFileBytes);
        if (!content) return content.error();
        password.get() = std::move(content.value());
        OPENSSL_cleanse(content.value().data(), content.value().size());
        // Editors and `echo` add a line break that is not part of the password.
        std::string& text = password.get();
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
            text.back() = '\0';
            text.pop_back();
        }
    }
    return success();
}

Result<ClientIdentity> load_pfx_identity(const PfxClientCert& pfx) {
    auto content = read_file_bounded(pfx.pfx_file, "pfx_file", kMaxTlsFileBytes);
    if (!content) return content.error();
    BioPtr bio = memory_bio(content.value());
    Pkcs12Ptr p12(d2i_PKCS12_bio(bio.get(), nullptr));
    if (!p12) {
        ERR_clear_error();
        return invalid("pfx_file " + quoted(pfx.pfx_file) + " is not a PKCS#12 (.pfx/.p12) file");
    }

    SecretString password;
    if (auto read = read_pfx_password(pfx, password); !read) return read.error();

    EVP_PKEY* raw_key = nullptr;
    X509* raw_cert = nullptr;
    STACK_OF(X509)* raw_chain = nullptr;
    const char* pass = password.get().c_str();
    int parsed = PKCS12_parse(p12.get(), pass, &raw_key, &raw_cert, &raw_chain);
    if (parsed != 1) {
        ERR_clear_error();
        // A PFX exported by older Windows uses RC2/3DES, which OpenSSL 3 keeps in the legacy
        // provider. Load it only when the password is right but decryption still failed.
        const bool mac_ok = PKCS12_mac_present(p12.get()) == 0 ||
                            PKCS12_verify_mac(p12.get(), pass, static_cast<int>(password.get().size())) == 1;
        ERR_clear_error();
        if (mac_ok && OSSL_PROVIDER_try_load(nullptr, "legacy", 1) != nullptr) {
            parsed = PKCS12_parse(p12.get(), pass, &raw_key, &raw_cert, &raw_chain);
            ERR_clear_error();
        }
    }
    password.wipe();
    EvpPkeyPtr key(raw_key);
    X509Ptr cert(raw_cert);
    std::vector<X509Ptr> chain;
    if (raw_chain != nullptr) {
        while (X509* extra = sk_X509_shift(raw_chain)) chain.emplace_back(extra);
        sk_X509_free(raw_chain);
    }
    if (parsed != 1) {
        return Failure{std::make_error_code(std::errc::permission_denied),
                       "pfx_file " + quoted(pfx.pfx_file) +
                           " cannot be opened: wrong password or corrupt PKCS#12 (check the password source)"};
    }
    if (!cert || !key) {
        return invalid("pfx_file " + quoted(pfx.pfx_file) + " does not hold both a certificate and its private key");
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        ERR_clear_error();
        return invalid("the key in pfx_file " + quoted(pfx.pfx_file) + " does not match its certificate");
    }
    ClientIdentity identity;
    identity.certificate = std::move(cert);
    identity.private_key = std::move(key);
    identity.chain = std::move(chain);
    return identity;
}

}  // namespace

Result<std::vector<X509Ptr>> load_certificates(const std::filesystem::path& pem_file) {
    auto content = read_file_bounded(pem_file, "certificate file", kMaxTlsFileBytes);
    if (!content) return content.error();
    std::vector<X509Ptr> certificates = parse_certificates(content.value());
    if (certificates.empty()) {
        return invalid("certificate file " + quoted(pem_file) + " holds no certificate in PEM or DER form");
    }
    return certificates;
}

Result<ClientIdentity> load_client_identity(const ClientCert& client_cert) {
    if (const auto* pem = std::get_if<PemClientCert>(&client_cert)) return load_pem_identity(*pem);
    if (const auto* pfx = std::get_if<PfxClientCert>(&client_cert)) return load_pfx_identity(*pfx);
    return invalid("a client certificate of " + local_machine_store(std::get<StoreClientCert>(client_cert).store) +
                   " is found in the certificate store, not in a file");
}

std::string TlsMaterialCache::identity_key(const ClientCert& client_cert) {
    if (const auto* pem = std::get_if<PemClientCert>(&client_cert)) {
        return "pem:" + pem->cert_file.string() + "|" + pem->key_file.string();
    }
    if (const auto* store = std::get_if<StoreClientCert>(&client_cert)) return store_selector_key(*store);
    const auto& pfx = std::get<PfxClientCert>(client_cert);
    return "pfx:" + pfx.pfx_file.string() + "|env:" + pfx.password_env.value_or("") +
           "|file:" + (pfx.password_file ? pfx.password_file->string() : std::string());
}

std::string TlsMaterialCache::file_stamp(const std::filesystem::path& file) {
    std::error_code ec;
    const auto written = std::filesystem::last_write_time(file, ec);
    const auto ticks = ec ? 0 : written.time_since_epoch().count();
    const auto size = std::filesystem::file_size(file, ec);
    return file.string() + "@" + std::to_string(ticks) + "#" + std::to_string(ec ? 0 : size);
}

std::string TlsMaterialCache::identity_stamp(const ClientCert& client_cert) {
    if (const auto* pem = std::get_if<PemClientCert>(&client_cert)) {
        return "pem:" + file_stamp(pem->cert_file) + "|" + file_stamp(pem->key_file);
    }
    // Which certificate of the store is a question for ClientIdentitySource, asked at every probe.
    if (std::holds_alternative<StoreClientCert>(client_cert)) return identity_key(client_cert);
    const auto& pfx = std::get<PfxClientCert>(client_cert);
    return "pfx:" + file_stamp(pfx.pfx_file) + "|env:" + pfx.password_env.value_or("") +
           "|file:" + (pfx.password_file ? file_stamp(*pfx.password_file) : std::string());
}

Result<SharedCertificates> TlsMaterialCache::certificates(const std::filesystem::path& file) {
    const std::string stamp = file_stamp(file);
    {
        std::lock_guard lock(mutex_);
        const auto found = certificates_.find(file.string());
        if (found != certificates_.end() && found->second.stamp == stamp) return found->second.value;
    }
    auto loaded = load_certificates(file);
    if (!loaded) return loaded.error();
    auto shared = std::make_shared<const std::vector<X509Ptr>>(std::move(loaded.value()));
    std::lock_guard lock(mutex_);
    ++decoded_;
    certificates_[file.string()] = Certificates{stamp, shared};
    return SharedCertificates(shared);
}

Result<SharedIdentity> TlsMaterialCache::client_identity(const ClientCert& client_cert) {
    const std::string key = identity_key(client_cert);
    const std::string stamp = identity_stamp(client_cert);
    {
        std::lock_guard lock(mutex_);
        const auto found = identities_.find(key);
        if (found != identities_.end() && found->second.stamp == stamp) return found->second.value;
    }
    auto loaded = load_client_identity(client_cert);
    if (!loaded) return loaded.error();
    auto shared = std::make_shared<const ClientIdentity>(std::move(loaded.value()));
    std::lock_guard lock(mutex_);
    ++decoded_;
    identities_[key] = Identity{stamp, shared};
    return SharedIdentity(shared);
}

std::size_t TlsMaterialCache::decoded() const {
    std::lock_guard lock(mutex_);
    return decoded_;
}

std::size_t TlsMaterialCache::entries() const {
    std::lock_guard lock(mutex_);
    return certificates_.size() + identities_.size();
}

}  // namespace certheal
