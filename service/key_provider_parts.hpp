#pragma once
// What the parts of certheal's OpenSSL key provider (service/key_provider.hpp) share: its names,
// its error codes, the key object its key managers make, and their dispatch tables. Internal to
// service/key_provider*.cpp.

#include <memory>
#include <string>

#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "service/key_provider.hpp"

namespace certheal::key_provider_parts {

inline constexpr const char* kProviderName = "certheal-keys";
inline constexpr const char* kAlgorithmProperties = "provider=certheal-keys";
// The parameter that hands a signer to the key manager (a pointer to a KeyHandover).
inline constexpr const char* kHandoverParam = "certheal-key-handover";
// The names of the signature algorithms: their own, so OpenSSL never signs a certheal key with
// another provider's RSA or ECDSA (which would get only the public key, exported).
inline constexpr const char* kRsaSignatureName = "CERTHEAL-RSA-SIGNATURE";
inline constexpr const char* kEcdsaSignatureName = "CERTHEAL-ECDSA-SIGNATURE";

// The provider's own error library: OpenSSL's error queue names a signing failure in words.
int error_library();
constexpr int kSigningFailed = 1;
constexpr int kCannotSign = 2;
void raise(int reason, const std::string& detail);

enum class KeyKind { rsa, ec };

struct KeyData {
    explicit KeyData(KeyKind made_as) : kind(made_as) {}
    KeyData(const KeyData&) = delete;
    KeyData& operator=(const KeyData&) = delete;
    KeyKind kind = KeyKind::rsa;
    EVP_PKEY* public_key = nullptr;     // the certificate's, in the default provider
    std::shared_ptr<KeySigner> signer;  // null: a public key only (imported to compare)
    ~KeyData() { EVP_PKEY_free(public_key); }
};

struct KeyHandover {
    std::shared_ptr<KeySigner> signer;
    EVP_PKEY* public_key = nullptr;  // borrowed
};

template <class Function>
void (*as_dispatch(Function* function))() {
    return reinterpret_cast<void (*)()>(function);
}

// The key managers (key_provider_keys.cpp) and the signatures (key_provider_signatures.cpp).
// Constant pointers to tables of static storage: set before any code runs.
extern const OSSL_DISPATCH* const kRsaKeyFunctions;
extern const OSSL_DISPATCH* const kEcKeyFunctions;
extern const OSSL_DISPATCH* const kRsaSignatureFunctions;
extern const OSSL_DISPATCH* const kEcdsaSignatureFunctions;

}  // namespace certheal::key_provider_parts
