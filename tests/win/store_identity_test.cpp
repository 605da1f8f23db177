// Store client certificates under Wine: StoreClientIdentities choosing among real LocalMachine
// store entries, and the keys signing where they live, through CryptoAPI (rsaenh) and CNG
// (ncrypt), checked with OpenSSL against the certificate's public key. Certificates and keys are
// put into the stores with crypt32 directly (identity_support.hpp), as Windows' PFX import
// records them. Each test uses a store of its own.
//
// The hidden [identity-tls] tests do a real mTLS handshake with a CNG key against openssl
// s_server; tests/win/identity-wine.sh starts the servers and runs them.

#include <windows.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>

#include "core/probe/certificate_info.hpp"
#include "core/probe/https_prober.hpp"
#include "identity_support.hpp"
#include "service/win/store_identities.hpp"
#include "support/pki.hpp"
#include "support/probe_once.hpp"

using namespace certheal;
using namespace std::chrono_literals;
using certheal::test::issue_client_certificate;
using certheal::test::Pki;

namespace {

const Pki& pki() {
    static const Pki shared;
    return shared;
}

std::string unused_store_name() {
    std::random_device random;
    return "certheal-identity-" + std::to_string(random()) + std::to_string(random());
}

std::string unused_container() {
    std::random_device random;
    return "certheal-test-" + std::to_string(random()) + std::to_string(random());
}

// Deletes a store's registry key (and so the store) when the test ends.
class StoreDeletedAtEnd {
public:
    explicit StoreDeletedAtEnd(const std::string& store) : store_(certheal::win::to_utf16(store)) {}
    ~StoreDeletedAtEnd() {
        const std::wstring path = L"SOFTWARE\\Microsoft\\SystemCertificates\\" + store_;
        ::RegDeleteTreeW(HKEY_LOCAL_MACHINE, path.c_str());
    }
    StoreDeletedAtEnd(const StoreDeletedAtEnd&) = delete;
    StoreDeletedAtEnd& operator=(const StoreDeletedAtEnd&) = delete;

private:
    std::wstring store_;
};

// A monotonic clock the test moves, so that the store is read again when the test says so.
struct SteppedClock {
    std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
    std::function<std::chrono::steady_clock::time_point()> function() {
        return [this] { return now; };
    }
};

StoreClientCert by_issuer(const std::string& store) {
    StoreClientCert wanted;
    wanted.store = store;
    wanted.issuer = "CN=certheal test CA, O=certheal tests";
    wanted.eku = "clientAuth";
    return wanted;
}

SharedIdentity identity_of(const Result<SharedIdentity>& selected) {
    if (!selected) FAIL(selected.error().message);
    return selected.value();
}

// Signs with the identity's key as TLS does (EVP_DigestSign), and verifies with the
// certificate's public key: true when the key signed, through wherever it lives.
bool signs_and_verifies(const ClientIdentity& identity, int padding) {
    const unsigned char data[] = "certheal signs the handshake where the key lives";
    EVP_MD_CTX* signing = EVP_MD_CTX_new();
    EVP_PKEY_CTX* parameters = nullptr;
    std::size_t length = 0;
    std::vector<unsigned char> signature;
    bool ok = EVP_DigestSignInit_ex(signing, &parameters, "SHA256", nullptr, nullptr, identity.private_key.get(),
                                    nullptr) == 1;
    if (ok && padding != 0) ok = EVP_PKEY_CTX_set_rsa_padding(parameters, padding) == 1;
    if (ok && padding == RSA_PKCS1_PSS_PADDING) ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(parameters, RSA_PSS_SALTLEN_DIGEST) == 1;
    if (ok) ok = EVP_DigestSign(signing, nullptr, &length, data, sizeof data) == 1;
    if (ok) {
        signature.resize(length);
        ok = EVP_DigestSign(signing, signature.data(), &length, data, sizeof data) == 1;
        signature.resize(length);
    }
    EVP_MD_CTX_free(signing);
    if (!ok) {
        UNSCOPED_INFO("signing failed: " << openssl_error_text());
        return false;
    }
    EVP_MD_CTX* verifying = EVP_MD_CTX_new();
    ok = EVP_DigestVerifyInit_ex(verifying, &parameters, "SHA256", nullptr, nullptr,
                                 X509_get0_pubkey(identity.certificate.get()), nullptr) == 1;
    if (ok && padding != 0) ok = EVP_PKEY_CTX_set_rsa_padding(parameters, padding) == 1;
    if (ok && padding == RSA_PKCS1_PSS_PADDING) ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(parameters, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(verifying, signature.data(), signature.size(), data, sizeof data) == 1;
    EVP_MD_CTX_free(verifying);
    return ok;
}

}  // namespace

TEST_CASE("a LocalMachine certificate found by its issuer signs with its CryptoAPI key, SHA-2 through the AES CSP",
          "[wine][identity]") {
    const std::string store = unused_store_name();
    StoreDeletedAtEnd cleanup(store);
    identity_test::install_capi_certificate(store, pki().rsa_client_cert, pki().rsa_client_key, unused_container());
    win::StoreClientIdentities identities;
    const SharedIdentity identity = identity_of(identities.select(by_issuer(store)));
    CHECK(subject_text(*identity->certificate) == "CN=certheal-probe-rsa,O=certheal tests");
    REQUIRE(identity->key_home);
    const KeyHome& home = *identity->key_home;
    CHECK_THAT(home.provider, Catch::Contains("the CryptoAPI provider \"Microsoft Enhanced Cryptographic Provider v1.0\"") &&
                                  Catch::Contains("Microsoft Enhanced RSA and AES Cryptographic Provider"));
    CHECK(home.signature_algorithms == "RSA+SHA256:RSA+SHA384:RSA+SHA512");
    CHECK_FALSE(home.signs_tls13);
    CHECK_THAT(home.limitation, Catch::Contains("TLS 1.2 at most"));
    CHECK(home.thumbprint == sha1_thumbprint(*identity->certificate));
    CHECK(signs_and_verifies(*identity, RSA_PKCS1_PADDING));
    CHECK_FALSE(signs_and_verifies(*identity, RSA_PKCS1_PSS_PADDING));  // CryptSignHash makes no PSS
    REQUIRE(home.last_signing_failure);
    CHECK(home.last_signing_failure().has_value());
}

TEST_CASE("a renewed certificate is chosen once the store is read again, without a restart", "[wine][identity]") {
    const std::string store = unused_store_name();
    StoreDeletedAtEnd cleanup(store);
    const auto old = issue_client_certificate(pki(), "old-" + store, "web01 old", -300 * 24h, 65 * 24h, true);
    const auto renewed = issue_client_certificate(pki(), "renewed-" + store, "web01 renewed", -1h, 365 * 24h, true);
    identity_test::install_capi_certificate(store, old.cert, old.key, unused_container());
    SteppedClock clock;
    win::StoreClientIdentities identities(clock.function());
    const SharedIdentity first = identity_of(identities.select(by_issuer(store)));
    CHECK(subject_text(*first->certificate) == "CN=web01 old,O=certheal tests");

    identity_test::install_capi_certificate(store, renewed.cert, renewed.key, unused_container());
    CHECK(identity_of(identities.select(by_issuer(store))) == first);  // read within the second: the same
    clock.now += 2s;
    const SharedIdentity second = identity_of(identities.select(by_issuer(store)));
    CHECK(subject_text(*second->certificate) == "CN=web01 renewed,O=certheal tests");
    CHECK(signs_and_verifies(*second, RSA_PKCS1_PADDING));
    clock.now += 2s;
    CHECK(identity_of(identities.select(by_issuer(store))) == second);  // the key is opened once, not per probe
}

TEST_CASE("a thumbprint names its certificate even when a newer match is there", "[wine][identity]") {
    const std::string store = unused_store_name();
    StoreDeletedAtEnd cleanup(store);
    const auto old = issue_client_certificate(pki(), "thumb-old-" + store, "thumb old", -300 * 24h, 65 * 24h, true);
    const auto newer = issue_client_certificate(pki(), "thumb-new-" + store, "thumb new", -1h, 365 * 24h, true);
    identity_test::install_capi_certificate(store, old.cert, old.key, unused_container());
    identity_test::install_capi_certificate(store, newer.cert, newer.key, unused_container());
    StoreClientCert wanted;
    wanted.store = store;
    wanted.thumbprint = sha1_thumbprint(*identity_test::read_certificate(old.cert));
    win::StoreClientIdentities identities;
    const SharedIdentity identity = identity_of(identities.select(wanted));
    CHECK(subject_text(*identity->certificate) == "CN=thumb old,O=certheal tests");
}

TEST_CASE("only expired matches, or none, are a failure that says what was searched", "[wine][identity]") {
    const std::string store = unused_store_name();
    StoreDeletedAtEnd cleanup(store);
    const auto expired = issue_client_certificate(pki(), "expired-" + store, "web01 lapsed", -400 * 24h, -24h, true);
    identity_test::install_capi_certificate(store, expired.cert, expired.key, unused_container());
    win::StoreClientIdentities identities;
    const auto only_expired = identities.select(by_issuer(store));
    REQUIRE_FALSE(only_expired);
    CHECK_THAT(only_expired.error().message, Catch::Contains("only expired certificates match LocalMachine\\" + store) &&
                                                 Catch::Contains("CN=web01 lapsed"));

    StoreClientCert elsewhere = by_issuer(store);
    elsewhere.issuer = "CN=Contoso Issuing CA, DC=contoso, DC=com";
    const auto none = identities.select(elsewhere);
    REQUIRE_FALSE(none);
    CHECK_THAT(none.error().message, Catch::Contains("no certificate in LocalMachine\\" + store + " matches") &&
                                         Catch::Contains("issued by CN=Contoso Issuing CA") &&
                                         Catch::Contains("among the 1 certificate(s) there"));

    StoreClientCert missing_store = by_issuer(unused_store_name());
    const auto empty = identities.select(missing_store);
    REQUIRE_FALSE(empty);
    CHECK_THAT(empty.error().message, Catch::Contains("among the 0 certificate(s) there"));
}

TEST_CASE("a certificate imported with Wine's own PFXImportCertStore (one user container, keyspec 3) signs too",
          "[wine][identity]") {
    const std::string store = unused_store_name();
    StoreDeletedAtEnd cleanup(store);
    // A key Wine's import copies whole (identity_test::wine_imports_whole says why some are not).
    auto pfx_cert = issue_client_certificate(pki(), "pfx-" + store, "web01 from pfx", -1h, 365 * 24h, true);
    for (int attempt = 1; !identity_test::wine_imports_whole(pfx_cert.key); ++attempt) {
        REQUIRE(attempt < 100);
        pfx_cert = issue_client_certificate(pki(), "pfx-" + store, "web01 from pfx", -1h, 365 * 24h, true);
    }
    // A PFX of it, as an admin would import it.
    auto key = identity_test::read_key(pfx_cert.key);
    auto cert = identity_test::read_certificate(pfx_cert.cert);
    PKCS12* p12 = PKCS12_create("pfx password", "web01", key.get(), cert.get(), nullptr, 0, 0, 0, 0, 0);
    REQUIRE(p12 != nullptr);
    unsigned char* der = nullptr;
    const int length = i2d_PKCS12(p12, &der);
    PKCS12_free(p12);
    const auto pfx_file = pki().write("pfx-" + store + ".pfx", std::string(reinterpret_cast<char*>(der), length));
    OPENSSL_free(der);
    REQUIRE(identity_test::import_pfx(store, pfx_file, "pfx password") == 1);

    StoreClientCert wanted;
    wanted.store = store;
    wanted.thumbprint = sha1_thumbprint(*cert);
    win::StoreClientIdentities identities;
    const SharedIdentity identity = identity_of(identities.select(wanted));
    REQUIRE(identity->key_home);
    CHECK_THAT(identity->key_home->provider, Catch::Contains("CryptoAPI"));
    CHECK(signs_and_verifies(*identity, RSA_PKCS1_PADDING));
}

TEST_CASE("a CNG key signs RSA-PSS and PKCS#1 through NCryptSignHash", "[wine][identity]") {
    // One key handle per padding: Wine 8's NCrypt refuses PKCS#1 on a handle that made PSS.
    for (int padding : {RSA_PKCS1_PSS_PADDING, RSA_PKCS1_PADDING}) {
        INFO("padding " << padding);
        auto context = identity_test::cng_certificate(pki().rsa_client_cert, pki().rsa_client_key);
        auto identity = win::identity_of_certificate(context.get(), "memory");
        REQUIRE(identity);
        REQUIRE(identity.value()->key_home);
        const KeyHome& home = *identity.value()->key_home;
        CHECK_THAT(home.provider, Catch::Contains("CNG"));
        CHECK(home.signs_tls13);
        CHECK(home.signature_algorithms.empty());
        CHECK(home.limitation.empty());
        CHECK(signs_and_verifies(*identity.value(), padding));
    }
}

// ---- a real mTLS handshake with a CNG key (ports from tests/win/identity-wine.sh) -------------

namespace {

class OneIdentity final : public ClientIdentitySource {
public:
    explicit OneIdentity(SharedIdentity identity) : identity_(std::move(identity)) {}
    bool available() const noexcept override { return true; }
    Result<SharedIdentity> select(const StoreClientCert&) override { return identity_; }

private:
    SharedIdentity identity_;
};

std::string environment(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr) FAIL(std::string(name) + " is not set: run tests/win/identity-wine.sh");
    return value;
}

ProbeResult probe_with_cng_key(const std::string& port_variable) {
    const std::filesystem::path dir = environment("CERTHEAL_IDENTITY_DIR");
    auto context = identity_test::cng_certificate(dir / "cng-client.pem", dir / "cng-client.key");
    auto identity = win::identity_of_certificate(context.get(), "memory");
    if (!identity) FAIL(identity.error().message);
    OneIdentity identities(identity.value());
    SiteConfig site;
    site.name = "cng";
    site.host = "localhost";
    site.port = static_cast<std::uint16_t>(std::stoi(environment(port_variable.c_str())));
    site.url = "https://localhost:" + std::to_string(site.port) + "/";
    site.connect_to = "127.0.0.1";
    site.tls.ca_file = dir / "ca.pem";
    StoreClientCert wanted;
    wanted.issuer = "CN=certheal identity CA";
    site.tls.client_cert = wanted;
    site.timeout = 20s;
    return test::probe_once(site, identities);
}

}  // namespace

TEST_CASE("a CNG key authenticates a TLS 1.3 handshake with RSA-PSS", "[.][identity-tls]") {
    const auto result = probe_with_cng_key("CERTHEAL_TLS13_PORT");
    CHECK(result.probe_class == ProbeClass::healthy);
    CHECK(result.status == 200);
}

TEST_CASE("a CNG key authenticates a TLS 1.2 handshake with RSA-PSS", "[.][identity-tls]") {
    const auto result = probe_with_cng_key("CERTHEAL_TLS12_PORT");
    CHECK(result.probe_class == ProbeClass::healthy);
}

TEST_CASE("a CNG key authenticates a TLS 1.2 handshake with PKCS#1 when the server asks for nothing else",
          "[.][identity-tls]") {
    const auto result = probe_with_cng_key("CERTHEAL_TLS12_PKCS1_PORT");
    CHECK(result.probe_class == ProbeClass::healthy);
}
