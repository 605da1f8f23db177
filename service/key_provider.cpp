#include "service/key_provider.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

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

namespace certheal {
namespace {

constexpr const char* kProviderName = "certheal-keys";
constexpr const char* kAlgorithmProperties = "provider=certheal-keys";
// The parameter that hands a signer to the key manager (a pointer to a KeyHandover).
constexpr const char* kHandoverParam = "certheal-key-handover";
// The names of the signature algorithms: their own, so OpenSSL never signs a certheal key with
// another provider's RSA or ECDSA (which would get only the public key, exported).
constexpr const char* kRsaSignatureName = "CERTHEAL-RSA-SIGNATURE";
constexpr const char* kEcdsaSignatureName = "CERTHEAL-ECDSA-SIGNATURE";

// ------------------------------------------------------------------ errors

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
constexpr int kSigningFailed = 1;
constexpr int kCannotSign = 2;

void raise(int reason, const std::string& detail) {
    ERR_raise_data(error_library(), reason, "%s", detail.c_str());
}

// ------------------------------------------------------------------ keys

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

const char* key_type_name(KeyKind kind) { return kind == KeyKind::rsa ? "RSA" : "EC"; }

void* new_rsa_key(void*) { return new KeyData(KeyKind::rsa); }
void* new_ec_key(void*) { return new KeyData(KeyKind::ec); }
void free_key(void* key) { delete static_cast<KeyData*>(key); }

int has_key_parts(const void* keydata, int selection) {
    const auto* key = static_cast<const KeyData*>(keydata);
    if (key == nullptr) return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && key->public_key == nullptr) return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && !key->signer) return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0 && key->kind == KeyKind::ec &&
        key->public_key == nullptr) {
        return 0;
    }
    return 1;
}

int match_keys(const void* left, const void* right, int) {
    const auto* a = static_cast<const KeyData*>(left);
    const auto* b = static_cast<const KeyData*>(right);
    if (a == nullptr || b == nullptr || a->public_key == nullptr || b->public_key == nullptr) return 0;
    return EVP_PKEY_eq(a->public_key, b->public_key) == 1 ? 1 : 0;
}

// Takes a signer handed over by make_signer_key, or (to compare a certificate's key with
// ours) public key parameters; a private key from elsewhere is refused, it has no place here.
int import_key(void* keydata, int selection, const OSSL_PARAM params[]) {
    auto* key = static_cast<KeyData*>(keydata);
    if (key == nullptr) return 0;
    if (const OSSL_PARAM* handover = OSSL_PARAM_locate_const(params, kHandoverParam)) {
        const void* pointer = nullptr;
        std::size_t size = 0;
        if (OSSL_PARAM_get_octet_ptr(handover, &pointer, &size) != 1 || size != sizeof(KeyHandover)) return 0;
        const auto* given = static_cast<const KeyHandover*>(pointer);
        if (given->public_key == nullptr || !given->signer || EVP_PKEY_up_ref(given->public_key) != 1) return 0;
        EVP_PKEY_free(key->public_key);
        key->public_key = given->public_key;
        key->signer = given->signer;
        return 1;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 &&
        (OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_D) != nullptr ||
         OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY) != nullptr)) {
        return 0;
    }
    EVP_PKEY_CTX* context = EVP_PKEY_CTX_new_from_name(nullptr, key_type_name(key->kind), nullptr);
    EVP_PKEY* imported = nullptr;
    const bool ok = context != nullptr && EVP_PKEY_fromdata_init(context) == 1 &&
                    EVP_PKEY_fromdata(context, &imported, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params)) == 1;
    EVP_PKEY_CTX_free(context);
    if (!ok) return 0;
    EVP_PKEY_free(key->public_key);
    key->public_key = imported;
    key->signer.reset();
    return 1;
}

// Only the public half leaves: the private one has no bytes to give.
int export_key(void* keydata, int selection, OSSL_CALLBACK* callback, void* callback_argument) {
    const auto* key = static_cast<const KeyData*>(keydata);
    if (key == nullptr || key->public_key == nullptr || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) return 0;
    return EVP_PKEY_export(key->public_key, selection, callback, callback_argument);
}

const OSSL_PARAM* rsa_public_types(int) {
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
        OSSL_PARAM_octet_ptr(kHandoverParam, nullptr, 0),
        OSSL_PARAM_END,
    };
    return types;
}

const OSSL_PARAM* ec_public_types(int) {
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, nullptr, 0),
        OSSL_PARAM_octet_ptr(kHandoverParam, nullptr, 0),
        OSSL_PARAM_END,
    };
    return types;
}

// What OpenSSL asks of a key (size, security bits, curve, point format) is the public key's.
int get_key_params(void* keydata, OSSL_PARAM params[]) {
    const auto* key = static_cast<const KeyData*>(keydata);
    if (key == nullptr || key->public_key == nullptr) return 0;
    return EVP_PKEY_get_params(key->public_key, params);
}

const OSSL_PARAM* rsa_gettable_params(void*) {
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
        OSSL_PARAM_END,
    };
    return gettable;
}

const OSSL_PARAM* ec_gettable_params(void*) {
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, nullptr, 0),
        OSSL_PARAM_END,
    };
    return gettable;
}

const char* rsa_operation_name(int operation) {
    return operation == OSSL_OP_SIGNATURE ? kRsaSignatureName : nullptr;
}
const char* ec_operation_name(int operation) {
    return operation == OSSL_OP_SIGNATURE ? kEcdsaSignatureName : nullptr;
}

void* duplicate_key(const void* keydata, int) {
    const auto* key = static_cast<const KeyData*>(keydata);
    if (key == nullptr) return nullptr;
    auto* copy = new KeyData(key->kind);
    if (key->public_key != nullptr && EVP_PKEY_up_ref(key->public_key) == 1) copy->public_key = key->public_key;
    copy->signer = key->signer;
    return copy;
}

template <class Function>
void (*as_dispatch(Function* function))() {
    return reinterpret_cast<void (*)()>(function);
}

const OSSL_DISPATCH kRsaKeyFunctions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, as_dispatch(new_rsa_key)},
    {OSSL_FUNC_KEYMGMT_FREE, as_dispatch(free_key)},
    {OSSL_FUNC_KEYMGMT_HAS, as_dispatch(has_key_parts)},
    {OSSL_FUNC_KEYMGMT_MATCH, as_dispatch(match_keys)},
    {OSSL_FUNC_KEYMGMT_IMPORT, as_dispatch(import_key)},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, as_dispatch(rsa_public_types)},
    {OSSL_FUNC_KEYMGMT_EXPORT, as_dispatch(export_key)},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, as_dispatch(rsa_public_types)},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, as_dispatch(get_key_params)},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, as_dispatch(rsa_gettable_params)},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, as_dispatch(rsa_operation_name)},
    {OSSL_FUNC_KEYMGMT_DUP, as_dispatch(duplicate_key)},
    {0, nullptr},
};

const OSSL_DISPATCH kEcKeyFunctions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, as_dispatch(new_ec_key)},
    {OSSL_FUNC_KEYMGMT_FREE, as_dispatch(free_key)},
    {OSSL_FUNC_KEYMGMT_HAS, as_dispatch(has_key_parts)},
    {OSSL_FUNC_KEYMGMT_MATCH, as_dispatch(match_keys)},
    {OSSL_FUNC_KEYMGMT_IMPORT, as_dispatch(import_key)},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, as_dispatch(ec_public_types)},
    {OSSL_FUNC_KEYMGMT_EXPORT, as_dispatch(export_key)},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, as_dispatch(ec_public_types)},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, as_dispatch(get_key_params)},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, as_dispatch(ec_gettable_params)},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, as_dispatch(ec_operation_name)},
    {OSSL_FUNC_KEYMGMT_DUP, as_dispatch(duplicate_key)},
    {0, nullptr},
};

// ------------------------------------------------------------------ signatures

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

const OSSL_DISPATCH kRsaSignatureFunctions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, as_dispatch(new_rsa_signature)},
    {OSSL_FUNC_SIGNATURE_FREECTX, as_dispatch(free_signature)},
    {OSSL_FUNC_SIGNATURE_DUPCTX, as_dispatch(duplicate_signature)},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, as_dispatch(sign_init)},
    {OSSL_FUNC_SIGNATURE_SIGN, as_dispatch(sign)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, as_dispatch(digest_sign_init)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, as_dispatch(digest_sign_update)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, as_dispatch(digest_sign_final)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, as_dispatch(digest_sign)},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, as_dispatch(set_signature_params)},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, as_dispatch(rsa_settable_signature_params)},
    {0, nullptr},
};

const OSSL_DISPATCH kEcdsaSignatureFunctions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, as_dispatch(new_ecdsa_signature)},
    {OSSL_FUNC_SIGNATURE_FREECTX, as_dispatch(free_signature)},
    {OSSL_FUNC_SIGNATURE_DUPCTX, as_dispatch(duplicate_signature)},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, as_dispatch(sign_init)},
    {OSSL_FUNC_SIGNATURE_SIGN, as_dispatch(sign)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, as_dispatch(digest_sign_init)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, as_dispatch(digest_sign_update)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, as_dispatch(digest_sign_final)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, as_dispatch(digest_sign)},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, as_dispatch(set_signature_params)},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, as_dispatch(ecdsa_settable_signature_params)},
    {0, nullptr},
};

// ------------------------------------------------------------------ the provider

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
