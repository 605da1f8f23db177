#include "service/win/key_signers.hpp"

// windows.h (through the header) first; bcrypt.h and ncrypt.h need its types.
#include <bcrypt.h>
#include <ncrypt.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/base/text.hpp"
#include "core/probe/certificate_info.hpp"
#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

constexpr DWORD kCertificateEncoding = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING;

// A CryptoAPI or CNG status as a sentence: "<what>: Keyset does not exist (0x80090016)."
Failure key_failure(DWORD status, const std::string& what) {
    char code[16];
    std::snprintf(code, sizeof code, "0x%08lX", static_cast<unsigned long>(status));
    return Failure{std::error_code(static_cast<int>(status), std::system_category()),
                   what + ": " + system_message(status) + " (" + code + ")."};
}

std::string describe(PCCERT_CONTEXT certificate) {
    const unsigned char* der = certificate->pbCertEncoded;
    X509Ptr parsed(d2i_X509(nullptr, &der, static_cast<long>(certificate->cbCertEncoded)));
    if (!parsed) return "a certificate that OpenSSL cannot read";
    return subject_text(*parsed) + " (SHA-1 " + sha1_thumbprint(*parsed) + ")";
}

bool is_ec_key(PCCERT_CONTEXT certificate) {
    const unsigned char* der = certificate->pbCertEncoded;
    X509Ptr parsed(d2i_X509(nullptr, &der, static_cast<long>(certificate->cbCertEncoded)));
    const EVP_PKEY* key = parsed ? X509_get0_pubkey(parsed.get()) : nullptr;
    return key != nullptr && EVP_PKEY_is_a(key, "EC");
}

// CERT_KEY_PROV_INFO_PROP_ID: where the store says the key is. Empty when it says nothing.
std::vector<BYTE> key_provider_info(PCCERT_CONTEXT certificate) {
    DWORD size = 0;
    if (!::CertGetCertificateContextProperty(certificate, CERT_KEY_PROV_INFO_PROP_ID, nullptr, &size) || size == 0) {
        return {};
    }
    std::vector<BYTE> buffer(size);
    if (!::CertGetCertificateContextProperty(certificate, CERT_KEY_PROV_INFO_PROP_ID, buffer.data(), &size)) return {};
    return buffer;
}

std::string wide_or(const wchar_t* text, const char* fallback) {
    return text != nullptr && *text != L'\0' ? to_utf8(text) : std::string(fallback);
}

// --- CNG -----------------------------------------------------------------------------------

const wchar_t* bcrypt_hash_name(SignatureDigest digest) {
    switch (digest) {
    case SignatureDigest::sha1: return BCRYPT_SHA1_ALGORITHM;
    case SignatureDigest::sha256: return BCRYPT_SHA256_ALGORITHM;
    case SignatureDigest::sha384: return BCRYPT_SHA384_ALGORITHM;
    case SignatureDigest::sha512: return BCRYPT_SHA512_ALGORITHM;
    }
    return BCRYPT_SHA256_ALGORITHM;
}

std::string provider_name_of(NCRYPT_KEY_HANDLE key) {
    NCRYPT_PROV_HANDLE provider = 0;
    DWORD size = 0;
    if (::NCryptGetProperty(key, NCRYPT_PROVIDER_HANDLE_PROPERTY, reinterpret_cast<BYTE*>(&provider),
                            sizeof provider, &size, 0) != ERROR_SUCCESS ||
        provider == 0) {
        return {};
    }
    wchar_t name[256] = {};
    std::string found;
    if (::NCryptGetProperty(provider, NCRYPT_NAME_PROPERTY, reinterpret_cast<BYTE*>(name), sizeof name - sizeof(wchar_t),
                            &size, 0) == ERROR_SUCCESS) {
        found = to_utf8(name);
    }
    ::NCryptFreeObject(provider);
    return found;
}

class NcryptSigner final : public KeySigner {
public:
    NcryptSigner(CertContext certificate, NCRYPT_KEY_HANDLE key, bool owned, bool ec, std::string described)
        : certificate_(std::move(certificate)), key_(key), owned_(owned), ec_(ec), described_(std::move(described)) {}
    ~NcryptSigner() override {
        if (owned_) ::NCryptFreeObject(key_);
    }
    NcryptSigner(const NcryptSigner&) = delete;
    NcryptSigner& operator=(const NcryptSigner&) = delete;

    bool can_sign(SignatureDigest digest, SignaturePadding padding) const override {
        if (digest == SignatureDigest::sha1) return false;  // TLS 1.2 at OpenSSL's security level refuses SHA-1
        return ec_ ? padding == SignaturePadding::ecdsa : padding != SignaturePadding::ecdsa;
    }

    Result<std::vector<unsigned char>> sign(SignatureDigest digest, SignaturePadding padding,
                                            std::span<const unsigned char> digest_bytes) override {
        BCRYPT_PKCS1_PADDING_INFO pkcs1{bcrypt_hash_name(digest)};
        BCRYPT_PSS_PADDING_INFO pss{bcrypt_hash_name(digest), static_cast<ULONG>(digest_bytes.size())};
        void* padding_info = nullptr;
        DWORD flags = NCRYPT_SILENT_FLAG;
        if (padding == SignaturePadding::pkcs1) {
            padding_info = &pkcs1;
            flags |= BCRYPT_PAD_PKCS1;
        } else if (padding == SignaturePadding::pss) {
            padding_info = &pss;
            flags |= BCRYPT_PAD_PSS;
        }
        std::vector<BYTE> hash(digest_bytes.begin(), digest_bytes.end());
        std::lock_guard lock(mutex_);
        DWORD size = 0;
        SECURITY_STATUS status = ::NCryptSignHash(key_, padding_info, hash.data(), static_cast<DWORD>(hash.size()),
                                                  nullptr, 0, &size, flags);
        std::vector<unsigned char> signature(size);
        if (status == ERROR_SUCCESS) {
            status = ::NCryptSignHash(key_, padding_info, hash.data(), static_cast<DWORD>(hash.size()), signature.data(),
                                      size, &size, flags);
        }
        if (status != ERROR_SUCCESS) {
            auto failure = key_failure(static_cast<DWORD>(status),
                                       "NCryptSignHash (" + std::string(to_string(padding)) + ", " +
                                           std::string(to_string(digest)) + ") with the CNG key of " + described_ +
                                           " failed");
            last_failure_ = failure.message;
            return failure;
        }
        signature.resize(size);
        return signature;
    }

    std::optional<std::string> take_last_failure() override {
        std::lock_guard lock(mutex_);
        return std::exchange(last_failure_, std::nullopt);
    }

private:
    CertContext certificate_;  // keeps a cached key handle alive
    NCRYPT_KEY_HANDLE key_;
    bool owned_;
    bool ec_;
    std::string described_;
    std::mutex mutex_;
    std::optional<std::string> last_failure_;
};

// --- CryptoAPI -------------------------------------------------------------------------------

ALG_ID capi_hash(SignatureDigest digest) {
    switch (digest) {
    case SignatureDigest::sha1: return CALG_SHA1;
    case SignatureDigest::sha256: return CALG_SHA_256;
    case SignatureDigest::sha384: return CALG_SHA_384;
    case SignatureDigest::sha512: return CALG_SHA_512;
    }
    return CALG_SHA_256;
}

std::set<SignatureDigest> sha2_hashes_of(HCRYPTPROV provider) {
    std::set<SignatureDigest> found;
    PROV_ENUMALGS algorithm{};
    DWORD flags = CRYPT_FIRST;
    for (int guard = 0; guard < 256; ++guard) {  // a provider lists a few dozen at most
        DWORD size = sizeof algorithm;
        if (!::CryptGetProvParam(provider, PP_ENUMALGS, reinterpret_cast<BYTE*>(&algorithm), &size, flags)) break;
        flags = CRYPT_NEXT;
        if (algorithm.aiAlgid == CALG_SHA_256) found.insert(SignatureDigest::sha256);
        if (algorithm.aiAlgid == CALG_SHA_384) found.insert(SignatureDigest::sha384);
        if (algorithm.aiAlgid == CALG_SHA_512) found.insert(SignatureDigest::sha512);
    }
    return found;
}

std::string provider_text(HCRYPTPROV provider, DWORD parameter) {
    char text[512] = {};
    DWORD size = sizeof text - 1;
    if (!::CryptGetProvParam(provider, parameter, reinterpret_cast<BYTE*>(text), &size, 0)) return {};
    return std::string(text);
}

std::wstring ansi_to_wide(const std::string& text) {
    if (text.empty()) return {};
    const int length = ::MultiByteToWideChar(CP_ACP, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
    std::wstring wide(static_cast<std::size_t>(std::max(length, 0)), L'\0');
    if (length > 0) ::MultiByteToWideChar(CP_ACP, 0, text.data(), static_cast<int>(text.size()), wide.data(), length);
    return wide;
}

class CapiSigner final : public KeySigner {
public:
    CapiSigner(CertContext certificate, HCRYPTPROV provider, bool owned, DWORD keyspec, std::string described)
        : certificate_(std::move(certificate)), provider_(provider), owned_(owned), keyspec_(keyspec),
          described_(std::move(described)) {}
    ~CapiSigner() override {
        if (reopened_ != 0) ::CryptReleaseContext(reopened_, 0);
        if (owned_) ::CryptReleaseContext(provider_, 0);
    }
    CapiSigner(const CapiSigner&) = delete;
    CapiSigner& operator=(const CapiSigner&) = delete;

    // Finds the key pair (AT_KEYEXCHANGE or AT_SIGNATURE) and the SHA-2 hashes the provider
    // has, opening the key again in the AES CSP when its own CSP has none. A Failure when the
    // key cannot sign any handshake TLS 1.2 allows.
    Result<Done> prepare(DWORD machine_keyset) {
        provider_name_ = provider_text(provider_, PP_NAME);
        if (keyspec_ != AT_KEYEXCHANGE && keyspec_ != AT_SIGNATURE) {
            // Wine 8's PFX import records AT_KEYEXCHANGE|AT_SIGNATURE (3): find the pair there is.
            for (DWORD candidate : {DWORD{AT_KEYEXCHANGE}, DWORD{AT_SIGNATURE}}) {
                HCRYPTKEY pair = 0;
                if (::CryptGetUserKey(provider_, candidate, &pair)) {
                    ::CryptDestroyKey(pair);
                    keyspec_ = candidate;
                    break;
                }
            }
        }
        hashes_ = sha2_hashes_of(provider_);
        if (hashes_.empty()) {
            const std::wstring container = ansi_to_wide(provider_text(provider_, PP_CONTAINER));
            DWORD keyset = 0;
            DWORD size = sizeof keyset;
            if (!::CryptGetProvParam(provider_, PP_KEYSET_TYPE, reinterpret_cast<BYTE*>(&keyset), &size, 0)) {
                keyset = machine_keyset;
            }
            HCRYPTPROV aes = 0;
            if (!container.empty() &&
                ::CryptAcquireContextW(&aes, container.c_str(), MS_ENH_RSA_AES_PROV_W, PROV_RSA_AES,
                                       (keyset & CRYPT_MACHINE_KEYSET) | CRYPT_SILENT)) {
                reopened_ = aes;
                hashes_ = sha2_hashes_of(aes);
            }
        }
        if (hashes_.empty()) {
            return Failure{std::make_error_code(std::errc::not_supported),
                           "the key of " + described_ + " is in the CryptoAPI provider \"" + provider_name_ +
                               "\", which hashes no SHA-2, and TLS 1.2 signatures need SHA-256 or longer: re-import "
                               "the certificate with its key into a CNG key storage provider (certutil -importPFX -csp "
                               "\"Microsoft Software Key Storage Provider\" My file.pfx)"};
        }
        return success();
    }

    KeyHome home() const {
        KeyHome made;
        made.provider = "the CryptoAPI provider \"" + provider_name_ + "\"";
        if (reopened_ != 0) made.provider += " (signing through \"" + to_utf8(MS_ENH_RSA_AES_PROV_W) + "\")";
        std::vector<std::string> algorithms;
        if (hashes_.count(SignatureDigest::sha256) != 0) algorithms.emplace_back("RSA+SHA256");
        if (hashes_.count(SignatureDigest::sha384) != 0) algorithms.emplace_back("RSA+SHA384");
        if (hashes_.count(SignatureDigest::sha512) != 0) algorithms.emplace_back("RSA+SHA512");
        made.signature_algorithms = join(algorithms, ":");
        made.signs_tls13 = false;
        made.limitation = "The key of certheal's client certificate " + described_ +
                          " is in the legacy CryptoAPI provider \"" + provider_name_ +
                          "\", which signs only with PKCS#1 v1.5, so certheal offers TLS 1.2 at most with it (TLS 1.3 "
                          "needs RSA-PSS). If the server accepts only TLS 1.3, re-import the certificate with its key "
                          "into a CNG key storage provider (certutil -importPFX -csp \"Microsoft Software Key Storage "
                          "Provider\" My file.pfx) or enrol it from a template that uses one";
        return made;
    }

    bool can_sign(SignatureDigest digest, SignaturePadding padding) const override {
        return padding == SignaturePadding::pkcs1 && hashes_.count(digest) != 0;
    }

    Result<std::vector<unsigned char>> sign(SignatureDigest digest, SignaturePadding padding,
                                            std::span<const unsigned char> digest_bytes) override {
        std::lock_guard lock(mutex_);
        const std::string doing = "CryptSignHash (" + std::string(to_string(padding)) + ", " +
                                  std::string(to_string(digest)) + ") with the CryptoAPI key of " + described_;
        if (!can_sign(digest, padding)) {
            last_failure_ = doing + " was asked for a signature the provider cannot make";
            return Failure{std::make_error_code(std::errc::not_supported), *last_failure_};
        }
        const HCRYPTPROV provider = reopened_ != 0 ? reopened_ : provider_;
        HCRYPTHASH hash = 0;
        std::vector<unsigned char> signature;
        DWORD status = ERROR_SUCCESS;
        std::vector<BYTE> value(digest_bytes.begin(), digest_bytes.end());
        if (!::CryptCreateHash(provider, capi_hash(digest), 0, 0, &hash) ||
            !::CryptSetHashParam(hash, HP_HASHVAL, value.data(), 0)) {
            status = ::GetLastError();
        } else {
            DWORD size = 0;
            if (!::CryptSignHashW(hash, keyspec_, nullptr, 0, nullptr, &size)) {
                status = ::GetLastError();
            } else {
                signature.resize(size);
                if (!::CryptSignHashW(hash, keyspec_, nullptr, 0, signature.data(), &size)) {
                    status = ::GetLastError();
                }
                signature.resize(size);
            }
        }
        if (hash != 0) ::CryptDestroyHash(hash);
        if (status != ERROR_SUCCESS) {
            auto failure = key_failure(status, doing + " failed");
            last_failure_ = failure.message;
            return failure;
        }
        std::reverse(signature.begin(), signature.end());  // CryptoAPI writes little-endian
        return signature;
    }

    std::optional<std::string> take_last_failure() override {
        std::lock_guard lock(mutex_);
        return std::exchange(last_failure_, std::nullopt);
    }

private:
    CertContext certificate_;
    HCRYPTPROV provider_;
    bool owned_;
    DWORD keyspec_;
    std::string described_;
    std::string provider_name_;
    HCRYPTPROV reopened_ = 0;  // the same key in the AES CSP, owned
    std::set<SignatureDigest> hashes_;
    std::mutex mutex_;
    std::optional<std::string> last_failure_;
};

// What CryptAcquireCertificatePrivateKey would have done with CERT_KEY_PROV_INFO, done by
// certheal (it honours the machine-keyset flag, which Wine 8's crypt32 drops).
struct Acquired {
    HCRYPTPROV_OR_NCRYPT_KEY_HANDLE handle = 0;
    DWORD keyspec = 0;
    bool owned = false;
};

Result<Acquired> acquire_from_provider_info(PCCERT_CONTEXT certificate, const std::string& described) {
    const std::vector<BYTE> buffer = key_provider_info(certificate);
    if (buffer.empty()) {
        return Failure{std::error_code(static_cast<int>(CRYPT_E_NO_KEY_PROPERTY), std::system_category()),
                       "the store records no private key for " + described};
    }
    const auto* info = reinterpret_cast<const CRYPT_KEY_PROV_INFO*>(buffer.data());
    Acquired acquired;
    acquired.owned = true;
    if (info->dwProvType == 0) {
        NCRYPT_PROV_HANDLE provider = 0;
        SECURITY_STATUS status = ::NCryptOpenStorageProvider(&provider, info->pwszProvName, 0);
        NCRYPT_KEY_HANDLE key = 0;
        if (status == ERROR_SUCCESS) {
            status = ::NCryptOpenKey(provider, &key, info->pwszContainerName, info->dwKeySpec,
                                     (info->dwFlags & NCRYPT_MACHINE_KEY_FLAG) | NCRYPT_SILENT_FLAG);
            ::NCryptFreeObject(provider);
        }
        if (status != ERROR_SUCCESS) {
            return key_failure(static_cast<DWORD>(status),
                               "certheal could not open the CNG key \"" + wide_or(info->pwszContainerName, "?") +
                                   "\" of " + described + " in \"" + wide_or(info->pwszProvName, "?") + "\"");
        }
        acquired.handle = key;
        acquired.keyspec = CERT_NCRYPT_KEY_SPEC;
        return acquired;
    }
    HCRYPTPROV provider = 0;
    if (!::CryptAcquireContextW(&provider, info->pwszContainerName, info->pwszProvName, info->dwProvType,
                                (info->dwFlags & CRYPT_MACHINE_KEYSET) | CRYPT_SILENT)) {
        return key_failure(::GetLastError(), "certheal could not open the key container \"" +
                                                 wide_or(info->pwszContainerName, "?") + "\" of " + described +
                                                 " in \"" + wide_or(info->pwszProvName, "?") + "\"");
    }
    acquired.handle = provider;
    acquired.keyspec = info->dwKeySpec;
    return acquired;
}

DWORD machine_keyset_of(PCCERT_CONTEXT certificate) {
    const std::vector<BYTE> buffer = key_provider_info(certificate);
    if (buffer.empty()) return 0;
    return reinterpret_cast<const CRYPT_KEY_PROV_INFO*>(buffer.data())->dwFlags & CRYPT_MACHINE_KEYSET;
}

}  // namespace

Result<OpenedKey> open_certificate_key(PCCERT_CONTEXT certificate, const std::string& store) {
    const std::string described = describe(certificate) + " in " + store;
    CertContext held(::CertDuplicateCertificateContext(certificate));
    Acquired acquired;
    BOOL caller_frees = FALSE;
    // CNG preferred, never a dialog; cached on the certificate context, which the signer keeps.
    if (::CryptAcquireCertificatePrivateKey(certificate,
                                            CRYPT_ACQUIRE_CACHE_FLAG | CRYPT_ACQUIRE_SILENT_FLAG |
                                                CRYPT_ACQUIRE_PREFER_NCRYPT_KEY_FLAG,
                                            nullptr, &acquired.handle, &acquired.keyspec, &caller_frees)) {
        acquired.owned = caller_frees != FALSE;
    } else {
        const DWORD first_error = ::GetLastError();
        auto fallback = acquire_from_provider_info(certificate, described);
        if (!fallback) {
            auto failure = key_failure(first_error, "certheal could not open the private key of " + described);
            failure.message = as_clause(failure.message) + "; " + fallback.error().message;
            return failure;
        }
        acquired = fallback.value();
    }

    const bool ec = is_ec_key(certificate);
    OpenedKey opened;
    if (acquired.keyspec == CERT_NCRYPT_KEY_SPEC) {
        const auto key = static_cast<NCRYPT_KEY_HANDLE>(acquired.handle);
        // The certificate's own record names the provider without another handle; only a key
        // attached in memory (CERT_KEY_CONTEXT) has to be asked. Wine 8 also hands out the key's
        // raw provider pointer there, which the NCryptFreeObject Windows requires then frees.
        std::string provider;
        if (const std::vector<BYTE> buffer = key_provider_info(certificate); !buffer.empty()) {
            provider = wide_or(reinterpret_cast<const CRYPT_KEY_PROV_INFO*>(buffer.data())->pwszProvName, "");
        }
        if (provider.empty()) provider = provider_name_of(key);
        opened.signer = std::make_shared<NcryptSigner>(std::move(held), key, acquired.owned, ec, described);
        opened.home.provider = provider.empty() ? std::string("a CNG key storage provider")
                                                : "the CNG key storage provider \"" + provider + "\"";
        return opened;
    }
    const auto provider = static_cast<HCRYPTPROV>(acquired.handle);
    if (ec) {
        if (acquired.owned) ::CryptReleaseContext(provider, 0);
        return Failure{std::make_error_code(std::errc::not_supported),
                       "the EC key of " + described + " came back as a CryptoAPI key, which cannot make ECDSA"};
    }
    auto signer = std::make_shared<CapiSigner>(std::move(held), provider, acquired.owned, acquired.keyspec, described);
    if (auto prepared = signer->prepare(machine_keyset_of(certificate)); !prepared) return prepared.error();
    opened.home = signer->home();
    opened.signer = std::move(signer);
    return opened;
}

}  // namespace certheal::win
