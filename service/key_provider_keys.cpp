// The key managers of certheal's OpenSSL key provider: an RSA or EC key whose public half is the
// certificate's and whose private half is a KeySigner (service/key_provider.hpp).
#include "service/key_provider_parts.hpp"

#include <algorithm>
#include <array>
#include <iterator>
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

// The parameters of a key, in parts; each list OpenSSL is given is made of some of them.
constexpr OSSL_PARAM kRsaPublicParams[] = {
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
};
constexpr OSSL_PARAM kEcPublicParams[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, nullptr, 0),
};
constexpr OSSL_PARAM kEcEncodedKeyParams[] = {
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
};
constexpr OSSL_PARAM kHandoverParams[] = {
    OSSL_PARAM_octet_ptr(kHandoverParam, nullptr, 0),
};
// What OpenSSL asks of every key.
constexpr OSSL_PARAM kSizeParams[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
};

// The parts one after the other, then OSSL_PARAM_END (all zero, as the array starts).
template <std::size_t... Sizes>
constexpr std::array<OSSL_PARAM, (Sizes + ...) + 1> param_list(const OSSL_PARAM (&... parts)[Sizes]) {
    std::array<OSSL_PARAM, (Sizes + ...) + 1> list{};
    auto next = list.begin();
    ((next = std::copy(std::begin(parts), std::end(parts), next)), ...);
    return list;
}

const OSSL_PARAM* rsa_public_types(int) {
    static constexpr auto types = param_list(kRsaPublicParams, kHandoverParams);
    return types.data();
}

const OSSL_PARAM* ec_public_types(int) {
    static constexpr auto types = param_list(kEcPublicParams, kHandoverParams);
    return types.data();
}

// What OpenSSL asks of a key (size, security bits, curve, point format) is the public key's.
int get_key_params(void* keydata, OSSL_PARAM params[]) {
    const auto* key = static_cast<const KeyData*>(keydata);
    if (key == nullptr || key->public_key == nullptr) return 0;
    return EVP_PKEY_get_params(key->public_key, params);
}

const OSSL_PARAM* rsa_gettable_params(void*) {
    static constexpr auto gettable = param_list(kSizeParams, kRsaPublicParams);
    return gettable.data();
}

const OSSL_PARAM* ec_gettable_params(void*) {
    static constexpr auto gettable = param_list(kSizeParams, kEcPublicParams, kEcEncodedKeyParams);
    return gettable.data();
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

// A key manager: RSA and EC differ in how a key is made, the parameters it takes, gives and
// answers, and the signature algorithm it names.
template <auto new_key, auto public_types, auto gettable_params, auto operation_name>
const OSSL_DISPATCH kKeyManager[] = {
    {OSSL_FUNC_KEYMGMT_NEW, as_dispatch(new_key)},
    {OSSL_FUNC_KEYMGMT_FREE, as_dispatch(free_key)},
    {OSSL_FUNC_KEYMGMT_HAS, as_dispatch(has_key_parts)},
    {OSSL_FUNC_KEYMGMT_MATCH, as_dispatch(match_keys)},
    {OSSL_FUNC_KEYMGMT_IMPORT, as_dispatch(import_key)},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, as_dispatch(public_types)},
    {OSSL_FUNC_KEYMGMT_EXPORT, as_dispatch(export_key)},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, as_dispatch(public_types)},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, as_dispatch(get_key_params)},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, as_dispatch(gettable_params)},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, as_dispatch(operation_name)},
    {OSSL_FUNC_KEYMGMT_DUP, as_dispatch(duplicate_key)},
    {0, nullptr},
};

}  // namespace

const OSSL_DISPATCH* const kRsaKeyFunctions =
    kKeyManager<new_rsa_key, rsa_public_types, rsa_gettable_params, rsa_operation_name>;
const OSSL_DISPATCH* const kEcKeyFunctions =
    kKeyManager<new_ec_key, ec_public_types, ec_gettable_params, ec_operation_name>;

}  // namespace certheal::key_provider_parts
