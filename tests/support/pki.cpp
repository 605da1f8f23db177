#include "support/pki.hpp"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace certheal::test {
namespace {

struct KeyFree { void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); } };
struct CertFree { void operator()(X509* cert) const noexcept { X509_free(cert); } };
struct BioFree { void operator()(BIO* bio) const noexcept { BIO_free(bio); } };
struct P12Free { void operator()(PKCS12* p12) const noexcept { PKCS12_free(p12); } };
struct StackFree { void operator()(STACK_OF(X509)* stack) const noexcept { sk_X509_free(stack); } };
struct ExtFree { void operator()(X509_EXTENSION* ext) const noexcept { X509_EXTENSION_free(ext); } };
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

[[noreturn]] void fail(const std::string& what) {
    char buffer[256] = {};
    ERR_error_string_n(ERR_get_error(), buffer, sizeof buffer);
    throw std::runtime_error("test PKI: " + what + ": " + buffer);
}

Key make_key() {
    Key key(EVP_EC_gen("P-256"));
    if (!key) fail("cannot generate an EC key");
    return key;
}

struct CertSpec {
    std::string common_name;
    bool is_ca = false;
    std::string subject_alt_names;  // "DNS:localhost,IP:127.0.0.1" or empty
    std::string extended_key_usage;  // "serverAuth", "clientAuth" or empty
    long not_before_offset_s = -3600;
    long not_after_offset_s = 3600L * 24 * 365;
};

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) fail("cannot add extension " + value);
}

// `issuer`/`issuer_key` null: self-signed.
Cert make_cert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
    Cert cert(X509_new());
    if (!cert) fail("X509_new");
    X509_set_version(cert.get(), 2);
    unsigned char serial_bytes[16];
    RAND_bytes(serial_bytes, sizeof serial_bytes);
    serial_bytes[0] &= 0x7f;
    BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
    BN_free(serial);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_offset_s);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_offset_s);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("certheal tests"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0);
    X509* signer = issuer != nullptr ? issuer : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
    add_extension(cert.get(), signer, NID_basic_constraints, spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage,
                  spec.is_ca                                  ? "critical,keyCertSign,cRLSign"
                  : EVP_PKEY_is_a(key, "RSA") ? "critical,digitalSignature,keyEncipherment"
                                              : "critical,digitalSignature,keyAgreement");
    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
    if (issuer != nullptr) add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    if (!spec.subject_alt_names.empty()) add_extension(cert.get(), signer, NID_subject_alt_name, spec.subject_alt_names);
    if (!spec.extended_key_usage.empty()) add_extension(cert.get(), signer, NID_ext_key_usage, spec.extended_key_usage);
    if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) fail("cannot sign " + spec.common_name);
    return cert;
}

std::string to_pem(X509* cert) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), cert);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string to_pem(EVP_PKEY* key) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string to_pfx(EVP_PKEY* key, X509* cert, X509* ca, const std::string& password) {
    std::unique_ptr<STACK_OF(X509), StackFree> chain(sk_X509_new_null());
    sk_X509_push(chain.get(), ca);
    std::unique_ptr<PKCS12, P12Free> p12(
        PKCS12_create(password.c_str(), "certheal-probe", key, cert, chain.get(), 0, 0, 0, 0, 0));
    if (!p12) fail("PKCS12_create");
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    i2d_PKCS12_bio(bio.get(), p12.get());
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

TempDir::TempDir() {
    std::random_device random;
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto candidate = base / ("certheal-test-" + std::to_string(random()) + std::to_string(random()));
        if (std::filesystem::create_directory(candidate)) {
            path_ = candidate;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary folder under " + base.string());
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::write(const std::string& name, const std::string& content) const {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + file.string());
    return file;
}

Pki::Pki(PkiOptions options) : options_(std::move(options)) {
    const long day = 24L * 3600;
    Key ca_key_pair = make_key();
    Cert ca = make_cert({"certheal test CA", true, "", "", -day, 3650 * day}, ca_key_pair.get(), nullptr, nullptr);
    Key server_key_pair = make_key();
    Cert server = make_cert({"localhost", false, "DNS:localhost,IP:127.0.0.1", "serverAuth"}, server_key_pair.get(),
                            ca.get(), ca_key_pair.get());
    Key client_key_pair = make_key();
    Cert client = make_cert({"certheal-probe", false, "", "clientAuth"}, client_key_pair.get(), ca.get(), ca_key_pair.get());
    Key other_ca_key_pair = make_key();
    Cert other_ca = make_cert({"unrelated test CA", true, "", "", -day, 3650 * day}, other_ca_key_pair.get(), nullptr, nullptr);
    Key other_client_key_pair = make_key();
    Cert other_client = make_cert({"certheal-probe", false, "", "clientAuth"}, other_client_key_pair.get(), other_ca.get(),
                                  other_ca_key_pair.get());
    Key expired_key_pair = make_key();
    Cert expired = make_cert({"certheal-probe-expired", false, "", "clientAuth", -30 * day, -day}, expired_key_pair.get(),
                             ca.get(), ca_key_pair.get());
    Key future_key_pair = make_key();
    Cert future = make_cert({"certheal-probe-future", false, "", "clientAuth", 30 * day, 60 * day}, future_key_pair.get(),
                            ca.get(), ca_key_pair.get());
    Key intermediate_key_pair = make_key();
    Cert intermediate = make_cert({"certheal test intermediate CA", true, "", "", -day, 3650 * day},
                                  intermediate_key_pair.get(), ca.get(), ca_key_pair.get());
    // Names itself as its issuer, like a root, but the CA's key signed it.
    Key look_alike_key_pair = make_key();
    Cert look_alike = make_cert({"certheal look-alike root", true, "", "", -day, 3650 * day}, look_alike_key_pair.get(),
                                nullptr, ca_key_pair.get());
    Key stray_key = make_key();
    Key rsa_client_key_pair(EVP_RSA_gen(2048));
    if (!rsa_client_key_pair) fail("cannot generate an RSA key");
    Cert rsa_client = make_cert({"certheal-probe-rsa", false, "", "clientAuth"}, rsa_client_key_pair.get(), ca.get(),
                                ca_key_pair.get());

    ca_cert = write("ca.pem", to_pem(ca.get()));
    ca_key = write("ca.key", to_pem(ca_key_pair.get()));
    server_cert = write("server.pem", to_pem(server.get()));
    server_key = write("server.key", to_pem(server_key_pair.get()));
    client_cert = write("client.pem", to_pem(client.get()));
    client_key = write("client.key", to_pem(client_key_pair.get()));
    client_pfx = write("client.pfx", to_pfx(client_key_pair.get(), client.get(), ca.get(), options_.pfx_password));
    other_ca_cert = write("other-ca.pem", to_pem(other_ca.get()));
    other_ca_key = write("other-ca.key", to_pem(other_ca_key_pair.get()));
    other_client_cert = write("other-client.pem", to_pem(other_client.get()));
    other_client_key = write("other-client.key", to_pem(other_client_key_pair.get()));
    expired_client_cert = write("expired-client.pem", to_pem(expired.get()));
    expired_client_key = write("expired-client.key", to_pem(expired_key_pair.get()));
    not_yet_valid_client_cert = write("future-client.pem", to_pem(future.get()));
    not_yet_valid_client_key = write("future-client.key", to_pem(future_key_pair.get()));
    intermediate_ca_cert = write("intermediate-ca.pem", to_pem(intermediate.get()));
    look_alike_root_cert = write("look-alike-root.pem", to_pem(look_alike.get()));
    mismatched_key = write("mismatched.key", to_pem(stray_key.get()));
    rsa_client_cert = write("rsa-client.pem", to_pem(rsa_client.get()));
    rsa_client_key = write("rsa-client.key", to_pem(rsa_client_key_pair.get()));
    garbage_cert = write("garbage.pem",
                         "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n");
}

IssuedCertificate issue_client_certificate(const Pki& pki, const std::string& name, const std::string& common_name,
                                           std::chrono::seconds not_before, std::chrono::seconds not_after, bool rsa) {
    auto read_pem = [](const std::filesystem::path& file, bool key) -> void* {
        std::unique_ptr<BIO, BioFree> bio(BIO_new_file(file.string().c_str(), "rb"));
        if (!bio) fail("cannot read " + file.string());
        void* read = key ? static_cast<void*>(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr))
                         : static_cast<void*>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (read == nullptr) fail("cannot parse " + file.string());
        return read;
    };
    Cert ca(static_cast<X509*>(read_pem(pki.ca_cert, false)));
    Key ca_key(static_cast<EVP_PKEY*>(read_pem(pki.ca_key, true)));
    Key key(rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"));
    if (!key) fail("cannot generate a key for " + common_name);
    Cert cert = make_cert({common_name, false, "", "clientAuth", static_cast<long>(not_before.count()),
                           static_cast<long>(not_after.count())},
                          key.get(), ca.get(), ca_key.get());
    return {pki.write(name + ".pem", to_pem(cert.get())), pki.write(name + ".key", to_pem(key.get()))};
}

void set_env(const std::string& name, const std::string& value) {
#ifdef _WIN32
    _putenv_s(name.c_str(), value.c_str());
#else
    setenv(name.c_str(), value.c_str(), 1);
#endif
}

void unset_env(const std::string& name) {
#ifdef _WIN32
    _putenv_s(name.c_str(), "");
#else
    unsetenv(name.c_str());
#endif
}

}  // namespace certheal::test
