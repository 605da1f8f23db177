#include "service/key_provider.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "core/probe/certificate_info.hpp"

#include "service/key_provider_parts.hpp"

namespace certheal {
namespace key_provider_parts {

int error_library() {
    static const int library = [] {
        const int number = ERR_get_next_error_library();
        static ERR_STRING_DATA strings[] = {
            {0, "certheal key provider"},
            {0, "the client certificate's key could not sign the handshake"},
            {0, "the client certificate's key cannot make this kind of signature"},
            {0, nullptr},
        };
        strings[0].error = ERR_PACK(number, 0, 0);
        strings[1].error = ERR_PACK(number, 0, 1);
        strings[2].error = ERR_PACK(number, 0, 2);
        ERR_load_strings(number, strings);
        return number;
    }();
    return library;
}

void raise(int reason, const std::string& detail) {
    ERR_raise_data(error_library(), reason, "%s", detail.c_str());
}

}  // namespace key_provider_parts

namespace {

using namespace key_provider_parts;

const OSSL_ALGORITHM kKeyManagers[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", kAlgorithmProperties, kRsaKeyFunctions, "certheal opaque RSA key"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", kAlgorithmProperties, kEcKeyFunctions, "certheal opaque EC key"},
    {nullptr, nullptr, nullptr, nullptr},
};

const OSSL_ALGORITHM kSignatures[] = {
    {kRsaSignatureName, kAlgorithmProperties, kRsaSignatureFunctions, "RSA through the key's own provider"},
    {kEcdsaSignatureName, kAlgorithmProperties, kEcdsaSignatureFunctions, "ECDSA through the key's own provider"},
    {nullptr, nullptr, nullptr, nullptr},
};

const OSSL_ALGORITHM* query_operation(void*, int operation, int* no_cache) {
    *no_cache = 0;
    if (operation == OSSL_OP_KEYMGMT) return kKeyManagers;
    if (operation == OSSL_OP_SIGNATURE) return kSignatures;
    return nullptr;
}

const OSSL_DISPATCH kProviderFunctions[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, as_dispatch(query_operation)},
    {0, nullptr},
};

int provider_init(const OSSL_CORE_HANDLE*, const OSSL_DISPATCH*, const OSSL_DISPATCH** out, void** provider_context) {
    *out = kProviderFunctions;
    *provider_context = nullptr;
    return 1;
}

// The library context the provider lives in, alone: its "RSA" and "EC" key managers are never
// what anyone else fetches (key generation for key exchange, certificate decoding), and what
// OpenSSL caches when it signs with a certheal key stays in this context's method store. (In the
// default context, OpenSSL 3.0's query cache answers a plain fetch of "RSA" with the key manager
// last fetched from any one provider: after the first signature, RSA key generation failed.)
Result<OSSL_LIB_CTX*> provider_context() {
    static std::once_flag once;
    static OSSL_LIB_CTX* context = nullptr;
    static std::string failure;
    std::call_once(once, [] {
        error_library();
        OSSL_LIB_CTX* made = OSSL_LIB_CTX_new();
        if (made == nullptr || OSSL_PROVIDER_add_builtin(made, kProviderName, provider_init) != 1 ||
            OSSL_PROVIDER_load(made, kProviderName) == nullptr) {
            failure = openssl_error_text();
            OSSL_LIB_CTX_free(made);
            return;
        }
        context = made;  // for the life of the process
    });
    if (context == nullptr) {
        return Failure{std::make_error_code(std::errc::not_supported),
                       "certheal could not load its OpenSSL provider for keys that stay in their store: " + failure};
    }
    return context;
}

struct PkeyContextDeleter { void operator()(EVP_PKEY_CTX* context) const noexcept { EVP_PKEY_CTX_free(context); } };

}  // namespace

std::string_view to_string(SignatureDigest digest) noexcept {
    switch (digest) {
    case SignatureDigest::sha1: return "SHA-1";
    case SignatureDigest::sha256: return "SHA-256";
    case SignatureDigest::sha384: return "SHA-384";
    case SignatureDigest::sha512: return "SHA-512";
    }
    return "?";
}

std::string_view to_string(SignaturePadding padding) noexcept {
    switch (padding) {
    case SignaturePadding::pkcs1: return "RSA PKCS#1 v1.5";
    case SignaturePadding::pss: return "RSA-PSS";
    case SignaturePadding::ecdsa: return "ECDSA";
    }
    return "?";
}

Result<EvpPkeyPtr> make_signer_key(std::shared_ptr<KeySigner> signer, const X509& certificate) {
    auto keys_context = provider_context();
    if (!keys_context) return keys_context.error();
    EVP_PKEY* public_key = X509_get0_pubkey(&certificate);
    const char* type = nullptr;
    if (public_key != nullptr && EVP_PKEY_is_a(public_key, "RSA")) {
        type = "RSA";
    } else if (public_key != nullptr && EVP_PKEY_is_a(public_key, "EC")) {
        type = "EC";
    } else {
        return Failure{std::make_error_code(std::errc::not_supported),
                       "the certificate " + subject_text(certificate) +
                           " has neither an RSA nor an EC key, so certheal cannot sign with it"};
    }
    std::unique_ptr<EVP_PKEY_CTX, PkeyContextDeleter> context(
        EVP_PKEY_CTX_new_from_name(keys_context.value(), type, nullptr));
    KeyHandover handover{std::move(signer), public_key};
    void* pointer = &handover;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_ptr(kHandoverParam, &pointer, sizeof(KeyHandover)),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY* made = nullptr;
    if (!context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
        EVP_PKEY_fromdata(context.get(), &made, EVP_PKEY_KEYPAIR, params) != 1) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       "certheal could not make a key for " + subject_text(certificate) + " that signs in its store: " +
                           openssl_error_text()};
    }
    return EvpPkeyPtr(made);
}

}  // namespace certheal
