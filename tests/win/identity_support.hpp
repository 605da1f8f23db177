#pragma once
// For the store client-certificate tests and certheal_identity_tool: certificates put into a
// LocalMachine store with their private keys the way Windows does it, straight with crypt32
// and CryptoAPI/CNG, independent of certheal's store identities, so that each checks the other.
//
// Wine 8's own PFXImportCertStore puts every key into one container named after the user and
// records it badly (docs/windows.md), so the tests write keys as Windows' PFX import does: one
// container per key, in the machine key set, with CERT_KEY_PROV_INFO saying so.

#include <windows.h>
// wincrypt.h defines X509_NAME as a macro; OpenSSL's headers undefine it, so they come after.
#include <wincrypt.h>
#include <bcrypt.h>
#include <ncrypt.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace identity_test {

using certheal::win::CertContext;
using certheal::win::CertStore;

inline std::string read_bytes(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + file.string());
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct PkeyFree { void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); } };
struct X509Free { void operator()(X509* cert) const noexcept { X509_free(cert); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

inline Pkey read_key(const std::filesystem::path& file) {
    const std::string pem = read_bytes(file);
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    Pkey key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    if (!key) throw std::runtime_error("no private key in " + file.string());
    return key;
}

inline Cert read_certificate(const std::filesystem::path& file) {
    const std::string pem = read_bytes(file);
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    Cert cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    if (!cert) throw std::runtime_error("no certificate in " + file.string());
    return cert;
}

inline CertContext certificate_context(X509& certificate) {
    unsigned char* der = nullptr;
    const int length = i2d_X509(&certificate, &der);
    CertContext context(::CertCreateCertificateContext(X509_ASN_ENCODING, der, static_cast<DWORD>(length)));
    OPENSSL_free(der);
    if (!context) throw std::runtime_error("CertCreateCertificateContext failed");
    return context;
}

inline void check(bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error(what + ": " + certheal::win::system_message(::GetLastError()));
}

// Adds `context` (with its properties) to LocalMachine\<store>, replacing an earlier copy.
inline void add_to_store(const std::string& store, PCCERT_CONTEXT context) {
    const std::wstring name = certheal::win::to_utf16(store);
    CertStore opened(::CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_LOCAL_MACHINE, name.c_str()));
    check(static_cast<bool>(opened), "CertOpenStore LocalMachine\\" + store);
    check(::CertAddCertificateContextToStore(opened.get(), context, CERT_STORE_ADD_REPLACE_EXISTING, nullptr) != FALSE,
          "CertAddCertificateContextToStore");
    ::CertControlStore(opened.get(), 0, CERT_STORE_CTRL_COMMIT, nullptr);  // Wine writes on commit or close
}

// The certificate of `cert_file` into LocalMachine\<store>, its RSA key (`key_file`) in a key
// container of its own in the machine key set of `provider` (a CryptoAPI CSP of `type`), as
// Windows' PFX import and certutil -importPFX record it.
inline void install_capi_certificate(const std::string& store, const std::filesystem::path& cert_file,
                                     const std::filesystem::path& key_file, const std::string& container,
                                     const wchar_t* provider = MS_ENHANCED_PROV_W, DWORD type = PROV_RSA_FULL) {
    Pkey key = read_key(key_file);
    BIO* blob = BIO_new(BIO_s_mem());
    check(i2b_PrivateKey_bio(blob, key.get()) > 0, "i2b_PrivateKey_bio");
    BUF_MEM* bytes = nullptr;
    BIO_get_mem_ptr(blob, &bytes);
    const std::wstring wide_container = certheal::win::to_utf16(container);
    HCRYPTPROV csp = 0;
    if (!::CryptAcquireContextW(&csp, wide_container.c_str(), provider, type,
                                CRYPT_NEWKEYSET | CRYPT_MACHINE_KEYSET | CRYPT_SILENT)) {
        check(::CryptAcquireContextW(&csp, wide_container.c_str(), provider, type, CRYPT_MACHINE_KEYSET | CRYPT_SILENT) !=
                  FALSE,
              "CryptAcquireContextW " + container);
    }
    HCRYPTKEY imported = 0;
    const BOOL ok = ::CryptImportKey(csp, reinterpret_cast<const BYTE*>(bytes->data), static_cast<DWORD>(bytes->length),
                                     0, 0, &imported);
    BIO_free(blob);
    check(ok != FALSE, "CryptImportKey");
    ::CryptDestroyKey(imported);
    ::CryptReleaseContext(csp, 0);

    Cert certificate = read_certificate(cert_file);
    CertContext context = certificate_context(*certificate);
    CRYPT_KEY_PROV_INFO info{};
    std::wstring container_name = wide_container;
    std::wstring provider_name = provider;
    info.pwszContainerName = container_name.data();
    info.pwszProvName = provider_name.data();
    info.dwProvType = type;
    info.dwFlags = CRYPT_MACHINE_KEYSET;
    info.dwKeySpec = AT_KEYEXCHANGE;
    check(::CertSetCertificateContextProperty(context.get(), CERT_KEY_PROV_INFO_PROP_ID, 0, &info) != FALSE,
          "CertSetCertificateContextProperty(CERT_KEY_PROV_INFO_PROP_ID)");
    add_to_store(store, context.get());
}

// Whether Wine 8's PFXImportCertStore copies this RSA key whole. Its import (crypt32's
// import_store_key) expects every CRT part at full length (d at bits/8 bytes; p, q, dP, dQ and
// qInv at bits/16) and, when one is a byte shorter, stops copying yet reports success. Measured
// over 150 fresh 2048-bit keys: 11 had a short part, and both with a short qInv signed garbage
// (the server answers decrypt_error; CI failed on it once). Windows imports every key; the
// tests pick one Wine imports whole.
inline bool wine_imports_whole(const std::filesystem::path& key_file) {
    Pkey key = read_key(key_file);
    const int full = EVP_PKEY_get_bits(key.get()) / 8;
    const std::pair<const char*, int> parts[] = {
        {OSSL_PKEY_PARAM_RSA_D, full},           {OSSL_PKEY_PARAM_RSA_FACTOR1, full / 2},
        {OSSL_PKEY_PARAM_RSA_FACTOR2, full / 2}, {OSSL_PKEY_PARAM_RSA_EXPONENT1, full / 2},
        {OSSL_PKEY_PARAM_RSA_EXPONENT2, full / 2}, {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, full / 2}};
    for (const auto& [name, bytes] : parts) {
        BIGNUM* value = nullptr;
        if (EVP_PKEY_get_bn_param(key.get(), name, &value) != 1) return false;
        const int length = BN_num_bytes(value);
        BN_clear_free(value);
        if (length != bytes) return false;
    }
    return true;
}

// PFXImportCertStore(flags) and every certificate that has a key into LocalMachine\<store>:
// what the platform's own import makes of a .pfx. Returns how many were added.
inline int import_pfx(const std::string& store, const std::filesystem::path& pfx_file, const std::string& password,
                      DWORD flags = 0) {
    std::string bytes = read_bytes(pfx_file);
    CRYPT_DATA_BLOB blob{static_cast<DWORD>(bytes.size()), reinterpret_cast<BYTE*>(bytes.data())};
    const std::wstring wide_password = certheal::win::to_utf16(password);
    CertStore imported(::PFXImportCertStore(&blob, wide_password.c_str(), flags));
    check(static_cast<bool>(imported), "PFXImportCertStore");
    int added = 0;
    CertContext current;
    for (;;) {
        PCCERT_CONTEXT next = ::CertEnumCertificatesInStore(imported.get(), current.release());
        if (next == nullptr) break;
        current.reset(next);
        DWORD size = 0;
        if (!::CertGetCertificateContextProperty(next, CERT_KEY_PROV_INFO_PROP_ID, nullptr, &size)) continue;
        add_to_store(store, next);
        ++added;
    }
    return added;
}

// Removes the certificate of `cert_file` from LocalMachine\<store>, when it is there.
inline void remove_from_store(const std::string& store, const std::filesystem::path& cert_file) {
    Cert certificate = read_certificate(cert_file);
    CertContext wanted = certificate_context(*certificate);
    const std::wstring name = certheal::win::to_utf16(store);
    CertStore opened(::CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_LOCAL_MACHINE, name.c_str()));
    check(static_cast<bool>(opened), "CertOpenStore LocalMachine\\" + store);
    PCCERT_CONTEXT found = ::CertFindCertificateInStore(opened.get(), X509_ASN_ENCODING, 0, CERT_FIND_EXISTING,
                                                        wanted.get(), nullptr);
    if (found != nullptr) ::CertDeleteCertificateFromStore(found);
    ::CertControlStore(opened.get(), 0, CERT_STORE_CTRL_COMMIT, nullptr);
}

// An ephemeral CNG key (NCryptImportKey of the RSA key in `key_file`): Wine 8 persists no
// CNG key and has no EC ones (docs/windows.md).
inline NCRYPT_KEY_HANDLE import_cng_rsa_key(const std::filesystem::path& key_file) {
    Pkey key = read_key(key_file);
    BIGNUM *n = nullptr, *e = nullptr, *p = nullptr, *q = nullptr;
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e);
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_FACTOR1, &p);
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_FACTOR2, &q);
    BCRYPT_RSAKEY_BLOB header{};
    header.Magic = BCRYPT_RSAPRIVATE_MAGIC;
    header.BitLength = static_cast<ULONG>(BN_num_bits(n));
    header.cbPublicExp = static_cast<ULONG>(BN_num_bytes(e));
    header.cbModulus = static_cast<ULONG>(BN_num_bytes(n));
    header.cbPrime1 = static_cast<ULONG>(BN_num_bytes(p));
    header.cbPrime2 = static_cast<ULONG>(BN_num_bytes(q));
    std::vector<BYTE> blob(sizeof header + header.cbPublicExp + header.cbModulus + header.cbPrime1 + header.cbPrime2);
    std::memcpy(blob.data(), &header, sizeof header);
    BYTE* at = blob.data() + sizeof header;
    at += BN_bn2bin(e, at);
    at += BN_bn2bin(n, at);
    at += BN_bn2bin(p, at);
    BN_bn2bin(q, at);
    BN_free(n);
    BN_free(e);
    BN_free(p);
    BN_free(q);
    NCRYPT_PROV_HANDLE provider = 0;
    if (::NCryptOpenStorageProvider(&provider, MS_KEY_STORAGE_PROVIDER, 0) != ERROR_SUCCESS) {
        throw std::runtime_error("NCryptOpenStorageProvider failed");
    }
    NCRYPT_KEY_HANDLE handle = 0;
    const SECURITY_STATUS status = ::NCryptImportKey(provider, 0, BCRYPT_RSAPRIVATE_BLOB, nullptr, &handle, blob.data(),
                                                     static_cast<DWORD>(blob.size()), 0);
    // The provider handle stays open: Wine 8's key keeps the bare provider pointer (Windows
    // keeps a reference), and certheal asks the key for its provider and frees what it gets, as
    // Windows wants. Freeing it here too made that a use-after-free that crashed this test when
    // it ran alone. One small provider object per test key is what it costs.
    if (status != ERROR_SUCCESS) {
        ::NCryptFreeObject(provider);
        throw std::runtime_error("NCryptImportKey failed");
    }
    return handle;
}

// A certificate context in memory whose key is a CNG handle (CERT_KEY_CONTEXT_PROP_ID with
// CERT_NCRYPT_KEY_SPEC): the context frees the handle when it goes.
inline CertContext cng_certificate(const std::filesystem::path& cert_file, const std::filesystem::path& key_file) {
    Cert certificate = read_certificate(cert_file);
    CertContext context = certificate_context(*certificate);
    CERT_KEY_CONTEXT key_context{};
    key_context.cbSize = sizeof key_context;
    key_context.hNCryptKey = import_cng_rsa_key(key_file);
    key_context.dwKeySpec = CERT_NCRYPT_KEY_SPEC;
    check(::CertSetCertificateContextProperty(context.get(), CERT_KEY_CONTEXT_PROP_ID, 0, &key_context) != FALSE,
          "CertSetCertificateContextProperty(CERT_KEY_CONTEXT_PROP_ID)");
    return context;
}

}  // namespace identity_test
