#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <functional>
#include <mutex>
#include <optional>

#include <openssl/evp.h>
#include <openssl/provider.h>

#include "core/probe/certificate_info.hpp"
#include "core/probe/client_cert_selection.hpp"
#include "core/probe/https_prober.hpp"
#include "support/lab.hpp"
#include "support/shared_pki.hpp"
#include "support/probe_once.hpp"
#include "support/software_signer.hpp"

// A client certificate whose key signs "where it lives": the key provider (service/key_provider)
// over a software signer, through the prober's store identity hook, against openssl s_server
// requiring a client certificate. What Windows' CNG and CryptoAPI do behind the signer is tested
// under Wine (tests/win); here it is everything around it, on every signing path TLS has.

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

// The store a test means: what select() hands out, changeable between probes.
class ScriptedIdentities final : public ClientIdentitySource {
public:
    bool available() const noexcept override { return true; }
    Result<SharedIdentity> select(const StoreClientCert&) override {
        std::lock_guard lock(mutex_);
        ++selections_;
        if (!current_) return Failure{std::make_error_code(std::errc::no_such_file_or_directory), failure_};
        return current_;
    }
    void hand_out(SharedIdentity identity) {
        std::lock_guard lock(mutex_);
        current_ = std::move(identity);
    }
    void fail_with(std::string sentence) {
        std::lock_guard lock(mutex_);
        current_.reset();
        failure_ = std::move(sentence);
    }
    int selections() const {
        std::lock_guard lock(mutex_);
        return selections_;
    }

private:
    mutable std::mutex mutex_;
    SharedIdentity current_;
    std::string failure_;
    int selections_ = 0;
};

SiteConfig store_site(std::uint16_t port) {
    SiteConfig site;
    site.name = "store";
    site.host = "localhost";
    site.port = port;
    site.url = "https://localhost:" + std::to_string(port) + "/";
    site.connect_to = "127.0.0.1";
    site.tls.ca_file = shared_pki().ca_cert;
    StoreClientCert selector;
    selector.issuer = "CN=certheal test CA,O=certheal tests";
    site.tls.client_cert = selector;
    site.timeout = 5s;
    return site;
}

SServerOptions s_server(std::vector<std::string> extra) {
    return SServerOptions{shared_pki().server_cert, shared_pki().server_key, shared_pki().ca_cert, false, std::move(extra)};
}

std::shared_ptr<SoftwareSigner> rsa_signer() { return std::make_shared<SoftwareSigner>(shared_pki().rsa_client_key); }
std::shared_ptr<SoftwareSigner> ec_signer() { return std::make_shared<SoftwareSigner>(shared_pki().client_key); }

// A key in a legacy CryptoAPI provider: PKCS#1 v1.5 only, as service/win says it.
KeyHome legacy_home() {
    KeyHome home;
    home.provider = "the CryptoAPI provider \"Microsoft Enhanced RSA and AES Cryptographic Provider\"";
    home.signature_algorithms = "RSA+SHA256:RSA+SHA384:RSA+SHA512";
    home.signs_tls13 = false;
    home.limitation = "Its key is in a legacy CryptoAPI provider, which cannot make the RSA-PSS signatures TLS 1.3 "
                      "needs, so certheal offers TLS 1.2 at most with this certificate";
    return home;
}

using Signed = std::pair<SignatureDigest, SignaturePadding>;

}  // namespace

TEST_CASE("a store RSA key signs a TLS 1.3 handshake with RSA-PSS through its own provider", "[lab][identity]") {
    SServer server(s_server({"-tls1_3"}));
    auto signer = rsa_signer();
    ScriptedIdentities identities;
    identities.hand_out(software_store_identity(shared_pki().rsa_client_cert, signer));
    const auto result = probe_once(store_site(server.port()), identities);
    CHECK(result.probe_class == ProbeClass::healthy);
    CHECK(result.status == 200);
    REQUIRE(signer->signed_so_far().size() == 1);
    CHECK(signer->signed_so_far()[0] == Signed{SignatureDigest::sha256, SignaturePadding::pss});
    REQUIRE(result.client_cert);
    CHECK(result.client_cert->subject == "CN=certheal-probe-rsa,O=certheal tests");
}

TEST_CASE("a store RSA key signs TLS 1.2 with PKCS#1 when the server asks for nothing else, and RSA-PSS when it may",
          "[lab][identity]") {
    {
        SServer server(s_server({"-tls1_2", "-client_sigalgs", "RSA+SHA384:RSA+SHA256"}));
        auto signer = rsa_signer();
        ScriptedIdentities identities;
        identities.hand_out(software_store_identity(shared_pki().rsa_client_cert, signer));
        CHECK(probe_once(store_site(server.port()), identities).probe_class == ProbeClass::healthy);
        REQUIRE(signer->signed_so_far().size() == 1);
        CHECK(signer->signed_so_far()[0] == Signed{SignatureDigest::sha384, SignaturePadding::pkcs1});
    }
    {
        SServer server(s_server({"-tls1_2"}));
        auto signer = rsa_signer();
        ScriptedIdentities identities;
        identities.hand_out(software_store_identity(shared_pki().rsa_client_cert, signer));
        CHECK(probe_once(store_site(server.port()), identities).probe_class == ProbeClass::healthy);
        REQUIRE(signer->signed_so_far().size() == 1);
        CHECK(signer->signed_so_far()[0].second == SignaturePadding::pss);
    }
}

TEST_CASE("a store EC key signs TLS 1.3 and TLS 1.2 with ECDSA (CNG's r and s made DER)", "[lab][identity]") {
    for (const char* version : {"-tls1_3", "-tls1_2"}) {
        INFO(version);
        SServer server(s_server({version}));
        auto signer = ec_signer();
        ScriptedIdentities identities;
        identities.hand_out(software_store_identity(shared_pki().client_cert, signer));
        CHECK(probe_once(store_site(server.port()), identities).probe_class == ProbeClass::healthy);
        REQUIRE(signer->signed_so_far().size() == 1);
        CHECK(signer->signed_so_far()[0] == Signed{SignatureDigest::sha256, SignaturePadding::ecdsa});
    }
}

TEST_CASE("a key that can sign only PKCS#1 is offered TLS 1.2 with PKCS#1, even when the server prefers RSA-PSS",
          "[lab][identity]") {
    SServer server(s_server({}));  // TLS 1.2 and 1.3, RSA-PSS preferred
    auto signer = rsa_signer();
    signer->allow_only({SignaturePadding::pkcs1});
    ScriptedIdentities identities;
    identities.hand_out(software_store_identity(shared_pki().rsa_client_cert, signer, legacy_home()));
    const auto result = probe_once(store_site(server.port()), identities);
    CHECK(result.probe_class == ProbeClass::healthy);
    REQUIRE(signer->signed_so_far().size() == 1);
    CHECK(signer->signed_so_far()[0].second == SignaturePadding::pkcs1);
}

TEST_CASE("a PKCS#1-only key against a TLS 1.3-only server says why, and is no rejected certificate",
          "[lab][identity]") {
    SServer server(s_server({"-tls1_3"}));
    auto signer = rsa_signer();
    signer->allow_only({SignaturePadding::pkcs1});
    ScriptedIdentities identities;
    identities.hand_out(software_store_identity(shared_pki().rsa_client_cert, signer, legacy_home()));
    const auto result = probe_once(store_site(server.port()), identities);
    CHECK(result.probe_class == ProbeClass::tls_error);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("legacy CryptoAPI provider") && Catch::Contains("TLS 1.2 at most"));
    CHECK(signer->signed_so_far().empty());
}

TEST_CASE("a provider that refuses to sign fails the handshake with its own reason", "[lab][identity]") {
    SServer server(s_server({"-tls1_3"}));
    auto signer = rsa_signer();
    signer->fail_with("NCryptSignHash refused: Keyset does not exist (0x80090016)");
    ScriptedIdentities identities;
    identities.hand_out(software_store_identity(shared_pki().rsa_client_cert, signer));
    const auto result = probe_once(store_site(server.port()), identities);
    CHECK(result.probe_class != ProbeClass::healthy);
    CHECK(result.probe_class != ProbeClass::client_cert_rejected);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("Keyset does not exist"));
}

TEST_CASE("no store certificate to present is client_cert_invalid with what was searched, and nothing is sent",
          "[lab][identity]") {
    ScriptedIdentities identities;
    identities.fail_with("no certificate in LocalMachine\\My matches: certheal looked for LocalMachine\\My "
                         "certificates issued by CN=certheal test CA");
    Blackhole nobody;  // a probe that connected would wait here until its timeout
    auto site = store_site(nobody.port());
    site.timeout = 30s;
    const auto started = std::chrono::steady_clock::now();
    const auto result = probe_once(site, identities);
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    CHECK(result.probe_class == ProbeClass::client_cert_invalid);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("certheal has no client certificate to present to site store") &&
                                  Catch::Contains("issued by CN=certheal test CA"));
    CHECK_FALSE(result.client_cert);
}

TEST_CASE("a renewed store certificate is presented from the next probe on, in the same context slot",
          "[lab][identity]") {
    SServer server(s_server({"-tls1_3"}));
    ScriptedIdentities identities;
    identities.hand_out(software_store_identity(shared_pki().rsa_client_cert, rsa_signer()));
    const auto site = store_site(server.port());

    boost::asio::io_context io;
    HttpsProber prober(io, {}, nullptr, nullptr, &identities);
    std::vector<ProbeResult> results;
    auto probe = [&] {
        prober.probe(site, [&](ProbeResult probed) { results.push_back(std::move(probed)); });
        io.restart();
        io.run();
    };
    probe();
    identities.hand_out(software_store_identity(shared_pki().client_cert, ec_signer()));  // "renewed" (an EC key now)
    probe();
    REQUIRE(results.size() == 2);
    CHECK(results[0].probe_class == ProbeClass::healthy);
    CHECK(results[1].probe_class == ProbeClass::healthy);
    REQUIRE(results[0].client_cert);
    REQUIRE(results[1].client_cert);
    CHECK(results[0].client_cert->subject == "CN=certheal-probe-rsa,O=certheal tests");
    CHECK(results[1].client_cert->subject == "CN=certheal-probe,O=certheal tests");
    CHECK(prober.cached_contexts() == 1);
    CHECK(identities.selections() == 2);
}

TEST_CASE("the key provider keeps out of other keys' way: key generation, P-256 key exchange and file keys still work",
          "[lab][identity]") {
    // Sign with store keys of both kinds first: that is what once made OpenSSL hand certheal's
    // key managers to plain fetches of "RSA" and "EC".
    for (const bool rsa : {true, false}) {
        SServer server(s_server({"-groups", "P-256"}));
        auto signer = rsa ? rsa_signer() : ec_signer();
        ScriptedIdentities identities;
        identities.hand_out(software_store_identity(rsa ? shared_pki().rsa_client_cert : shared_pki().client_cert, signer));
        CHECK(probe_once(store_site(server.port()), identities).probe_class == ProbeClass::healthy);
        CHECK(signer->signed_so_far().size() == 1);
    }
    EvpPkeyPtr rsa_key(EVP_RSA_gen(2048));
    CHECK(rsa_key);
    EvpPkeyPtr ec_key(EVP_EC_gen("P-256"));
    CHECK(ec_key);
    EVP_KEYMGMT* rsa_manager = EVP_KEYMGMT_fetch(nullptr, "RSA", nullptr);
    REQUIRE(rsa_manager != nullptr);
    CHECK(std::string(OSSL_PROVIDER_get0_name(EVP_KEYMGMT_get0_provider(rsa_manager))) == "default");
    EVP_KEYMGMT_free(rsa_manager);

    SServer server(s_server({"-groups", "P-256"}));  // ECDHE on P-256: an "EC" key generated per handshake
    auto site = store_site(server.port());
    site.tls.client_cert = PemClientCert{shared_pki().client_cert, shared_pki().client_key};
    ScriptedIdentities unused;
    CHECK(probe_once(site, unused).probe_class == ProbeClass::healthy);
    CHECK(unused.selections() == 0);
}
