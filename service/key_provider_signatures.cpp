// The signatures of certheal's OpenSSL key provider: OpenSSL hashes, the key's KeySigner signs
// the digest (RSA PKCS#1 v1.5, RSA-PSS, ECDSA) (service/key_provider.hpp).
#include "service/key_provider_parts.hpp"

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

namespace certheal::key_provider_parts {
namespace {

struct MdDeleter { void operator()(EVP_MD* md) const noexcept { EVP_MD_free(md); } };
struct MdContextDeleter { void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); } };
using MdPtr = std::unique_ptr<EVP_MD, MdDeleter>;
using MdContextPtr = std::unique_ptr<EVP_MD_CTX, MdContextDeleter>;

std::optional<SignatureDigest> digest_kind(const EVP_MD* md) {
    if (EVP_MD_is_a(md, "SHA2-256")) return SignatureDigest::sha256;
    if (EVP_MD_is_a(md, "SHA2-384")) return SignatureDigest::sha384;
    if (EVP_MD_is_a(md, "SHA2-512")) return SignatureDigest::sha512;
    if (EVP_MD_is_a(md, "SHA1")) return SignatureDigest::sha1;
    return std::nullopt;
}

struct SignatureContext {
    explicit SignatureContext(KeyKind made_as)
        : kind(made_as), padding(made_as == KeyKind::rsa ? SignaturePadding::pkcs1 : SignaturePadding::ecdsa) {}
    KeyKind kind = KeyKind::rsa;
    KeyData* key = nullptr;  // OpenSSL keeps the key alive while the operation lasts
    MdPtr md;
    std::optional<SignatureDigest> digest;
    SignaturePadding padding = SignaturePadding::pkcs1;
    std::optional<std::string> mgf1_digest;  // as named; must be the signature's digest
    int salt_length = RSA_PSS_SALTLEN_DIGEST;
    MdContextPtr hashing;  // digest_sign_update/final
};

void* new_rsa_signature(void*, const char*) { return new SignatureContext(KeyKind::rsa); }
void* new_ecdsa_signature(void*, const char*) { return new SignatureContext(KeyKind::ec); }
void free_signature(void* context) { delete static_cast<SignatureContext*>(context); }

void* duplicate_signature(void* context) {
    const auto* from = static_cast<const SignatureContext*>(context);
    auto* copy = new SignatureContext(from->kind);
    copy->key = from->key;
    copy->digest = from->digest;
    copy->padding = from->padding;
    copy->mgf1_digest = from->mgf1_digest;
    copy->salt_length = from->salt_length;
    if (from->md && EVP_MD_up_ref(from->md.get()) == 1) copy->md.reset(from->md.get());
    if (from->hashing) {
        copy->hashing.reset(EVP_MD_CTX_new());
        if (!copy->hashing || EVP_MD_CTX_copy_ex(copy->hashing.get(), from->hashing.get()) != 1) {
            delete copy;
            return nullptr;
        }
    }
    return copy;
}

bool set_digest(SignatureContext& context, const char* name) {
    MdPtr md(EVP_MD_fetch(nullptr, name, nullptr));
    const auto kind = md ? digest_kind(md.get()) : std::nullopt;
    if (!kind) {
        raise(kCannotSign, std::string("certheal signs with SHA-1, SHA-256, SHA-384 or SHA-512, not ") + name);
        return false;
    }
    context.md = std::move(md);
    context.digest = kind;
    return true;
}

int set_signature_params(void* opaque, const OSSL_PARAM params[]) {
    auto& context = *static_cast<SignatureContext*>(opaque);
    if (params == nullptr) return 1;
    if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST)) {
        const char* name = nullptr;
        if (OSSL_PARAM_get_utf8_string_ptr(p, &name) != 1 || !set_digest(context, name)) return 0;
    }
    if (context.kind == KeyKind::rsa) {
        if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) {
            int mode = 0;
            const char* name = nullptr;
            if (p->data_type == OSSL_PARAM_UTF8_STRING && OSSL_PARAM_get_utf8_string_ptr(p, &name) == 1) {
                mode = std::strcmp(name, "pss") == 0 ? RSA_PKCS1_PSS_PADDING
                       : std::strcmp(name, "pkcs1") == 0 ? RSA_PKCS1_PADDING
                                                          : -1;
            } else if (OSSL_PARAM_get_int(p, &mode) != 1) {
                return 0;
            }
            if (mode == RSA_PKCS1_PADDING) {
                context.padding = SignaturePadding::pkcs1;
            } else if (mode == RSA_PKCS1_PSS_PADDING) {
                context.padding = SignaturePadding::pss;
            } else {
                raise(kCannotSign, "certheal signs RSA with PKCS#1 v1.5 or PSS padding only");
                return 0;
            }
        }
        if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) {
            const char* text = nullptr;
            int length = 0;
            if (p->data_type == OSSL_PARAM_UTF8_STRING && OSSL_PARAM_get_utf8_string_ptr(p, &text) == 1) {
                if (std::strcmp(text, "digest") == 0) {
                    length = RSA_PSS_SALTLEN_DIGEST;
                } else if (std::strcmp(text, "max") == 0) {
                    length = RSA_PSS_SALTLEN_MAX;
                } else if (std::strcmp(text, "auto") == 0) {
                    length = RSA_PSS_SALTLEN_AUTO;
                } else {
                    length = std::atoi(text);
                }
            } else if (OSSL_PARAM_get_int(p, &length) != 1) {
                return 0;
            }
            context.salt_length = length;
        }
        if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) {
            const char* name = nullptr;
            if (OSSL_PARAM_get_utf8_string_ptr(p, &name) != 1) return 0;
            context.mgf1_digest = name;
        }
    }
    return 1;
}

const OSSL_PARAM* rsa_settable_signature_params(void*, void*) {
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, nullptr, 0),
        OSSL_PARAM_END,
    };
    return settable;
}

const OSSL_PARAM* ecdsa_settable_signature_params(void*, void*) {
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, nullptr, 0),
        OSSL_PARAM_END,
    };
    return settable;
}

int begin(SignatureContext& context, void* provkey, const OSSL_PARAM params[]) {
    auto* key = static_cast<KeyData*>(provkey);
    if (key == nullptr || !key->signer) {
        raise(kCannotSign, "the key has no signer (only its public half is known)");
        return 0;
    }
    context.key = key;
    context.padding = context.kind == KeyKind::rsa ? SignaturePadding::pkcs1 : SignaturePadding::ecdsa;
    context.salt_length = RSA_PSS_SALTLEN_DIGEST;
    context.mgf1_digest.reset();
    return set_signature_params(&context, params);
}

int sign_init(void* opaque, void* provkey, const OSSL_PARAM params[]) {
    return begin(*static_cast<SignatureContext*>(opaque), provkey, params);
}

std::size_t signature_size(const SignatureContext& context) {
    const int size = EVP_PKEY_get_size(context.key->public_key);
    return size > 0 ? static_cast<std::size_t>(size) : 0;
}

// r || s (CNG's form) as a DER ECDSA-Sig-Value (what TLS and OpenSSL carry).
std::optional<std::vector<unsigned char>> ecdsa_der(const std::vector<unsigned char>& raw) {
    if (raw.empty() || raw.size() % 2 != 0) return std::nullopt;
    const int half = static_cast<int>(raw.size() / 2);
    ECDSA_SIG* signature = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(raw.data(), half, nullptr);
    BIGNUM* s = BN_bin2bn(raw.data() + half, half, nullptr);
    if (signature == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(signature, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(signature);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    const int length = i2d_ECDSA_SIG(signature, &der);
    ECDSA_SIG_free(signature);
    if (length <= 0) return std::nullopt;
    std::vector<unsigned char> encoded(der, der + length);
    OPENSSL_free(der);
    return encoded;
}

// The one place a signature is made: checks what is asked against what TLS may ask, then
// hands the digest to the signer.
int sign_digest(SignatureContext& context, unsigned char* signature, std::size_t* signature_length,
                std::size_t signature_room, const unsigned char* digest, std::size_t digest_length) {
    if (context.key == nullptr || !context.key->signer) return 0;
    if (signature == nullptr) {
        *signature_length = signature_size(context);
        return *signature_length > 0 ? 1 : 0;
    }
    if (!context.digest) {
        raise(kCannotSign, "no digest was named for the signature");
        return 0;
    }
    if (context.md && digest_length != static_cast<std::size_t>(EVP_MD_get_size(context.md.get()))) {
        raise(kCannotSign, "the digest to sign is not as long as its hash");
        return 0;
    }
    if (context.padding == SignaturePadding::pss) {
        const int digest_size = EVP_MD_get_size(context.md.get());
        if (context.salt_length != RSA_PSS_SALTLEN_DIGEST && context.salt_length != digest_size) {
            raise(kCannotSign, "RSA-PSS with a salt other than the digest's length (TLS uses the digest's length)");
            return 0;
        }
        if (context.mgf1_digest) {
            MdPtr mgf1(EVP_MD_fetch(nullptr, context.mgf1_digest->c_str(), nullptr));
            if (!mgf1 || digest_kind(mgf1.get()) != context.digest) {
                raise(kCannotSign, "RSA-PSS with MGF1 over another digest than the signature's");
                return 0;
            }
        }
    }
    auto signed_bytes = context.key->signer->sign(*context.digest, context.padding,
                                                  std::span<const unsigned char>(digest, digest_length));
    if (!signed_bytes) {
        raise(kSigningFailed, signed_bytes.error().message);
        return 0;
    }
    std::vector<unsigned char> bytes = std::move(signed_bytes.value());
    if (context.kind == KeyKind::ec) {
        auto der = ecdsa_der(bytes);
        if (!der) {
            raise(kSigningFailed, "the ECDSA signature the key's provider returned is not r and s");
            return 0;
        }
        bytes = std::move(*der);
    }
    if (bytes.size() > signature_room) {
        raise(kSigningFailed, "the signature is longer than the key allows");
        return 0;
    }
    std::copy(bytes.begin(), bytes.end(), signature);
    *signature_length = bytes.size();
    return 1;
}

int sign(void* opaque, unsigned char* signature, std::size_t* signature_length, std::size_t signature_room,
         const unsigned char* digest, std::size_t digest_length) {
    return sign_digest(*static_cast<SignatureContext*>(opaque), signature, signature_length, signature_room, digest,
                       digest_length);
}

int digest_sign_init(void* opaque, const char* digest_name, void* provkey, const OSSL_PARAM params[]) {
    auto& context = *static_cast<SignatureContext*>(opaque);
    if (begin(context, provkey, params) != 1) return 0;
    if (!set_digest(context, digest_name != nullptr ? digest_name : "SHA2-256")) return 0;
    // A digest the key's provider cannot sign with is refused here, where libssl asks
    // (EVP_PKEY_digestsign_supports_digest) before it picks a signature algorithm.
    const bool any_padding = context.kind == KeyKind::ec
                                 ? context.key->signer->can_sign(*context.digest, SignaturePadding::ecdsa)
                                 : context.key->signer->can_sign(*context.digest, SignaturePadding::pkcs1) ||
                                       context.key->signer->can_sign(*context.digest, SignaturePadding::pss);
    if (!any_padding) {
        raise(kCannotSign, std::string("the key's provider cannot sign a ") + std::string(to_string(*context.digest)) +
                               " digest");
        return 0;
    }
    context.hashing.reset(EVP_MD_CTX_new());
    return context.hashing && EVP_DigestInit_ex2(context.hashing.get(), context.md.get(), nullptr) == 1 ? 1 : 0;
}

int digest_sign_update(void* opaque, const unsigned char* data, std::size_t length) {
    auto& context = *static_cast<SignatureContext*>(opaque);
    return context.hashing && EVP_DigestUpdate(context.hashing.get(), data, length) == 1 ? 1 : 0;
}

int digest_sign_final(void* opaque, unsigned char* signature, std::size_t* signature_length,
                      std::size_t signature_room) {
    auto& context = *static_cast<SignatureContext*>(opaque);
    if (signature == nullptr) return sign_digest(context, nullptr, signature_length, 0, nullptr, 0);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    if (!context.hashing || EVP_DigestFinal_ex(context.hashing.get(), digest, &digest_length) != 1) return 0;
    return sign_digest(context, signature, signature_length, signature_room, digest, digest_length);
}

int digest_sign(void* opaque, unsigned char* signature, std::size_t* signature_length, std::size_t signature_room,
                const unsigned char* data, std::size_t data_length) {
    auto& context = *static_cast<SignatureContext*>(opaque);
    if (signature == nullptr) return sign_digest(context, nullptr, signature_length, 0, nullptr, 0);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    if (!context.md || EVP_Digest(data, data_length, digest, &digest_length, context.md.get(), nullptr) != 1) return 0;
    return sign_digest(context, signature, signature_length, signature_room, digest, digest_length);
}

// A signature algorithm: RSA and ECDSA differ in the context they make and the parameters
// they take.
template <auto new_signature, auto settable_params>
const OSSL_DISPATCH kSignature[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, as_dispatch(new_signature)},
    {OSSL_FUNC_SIGNATURE_FREECTX, as_dispatch(free_signature)},
    {OSSL_FUNC_SIGNATURE_DUPCTX, as_dispatch(duplicate_signature)},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, as_dispatch(sign_init)},
    {OSSL_FUNC_SIGNATURE_SIGN, as_dispatch(sign)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, as_dispatch(digest_sign_init)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, as_dispatch(digest_sign_update)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, as_dispatch(digest_sign_final)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, as_dispatch(digest_sign)},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, as_dispatch(set_signature_params)},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, as_dispatch(settable_params)},
    {0, nullptr},
};

}  // namespace

const OSSL_DISPATCH* const kRsaSignatureFunctions = kSignature<new_rsa_signature, rsa_settable_signature_params>;
const OSSL_DISPATCH* const kEcdsaSignatureFunctions = kSignature<new_ecdsa_signature, ecdsa_settable_signature_params>;

}  // namespace certheal::key_provider_parts
