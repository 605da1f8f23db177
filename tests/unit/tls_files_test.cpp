#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "core/probe/certificate_info.hpp"
#include "core/probe/tls_files.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"
#include "support/shared_pki.hpp"

using certheal::test::read_text;
using namespace std::chrono_literals;
using namespace certheal;
using certheal::test::Pki;
using certheal::test::shared_pki;
using certheal::test::ScopedEnv;

TEST_CASE("a CA bundle loads every certificate it holds", "[tls_files]") {
    const Pki& pki = shared_pki();
    const auto bundle = pki.write("bundle.pem", read_text(pki.ca_cert) + read_text(pki.other_ca_cert));
    const auto single = load_certificates(pki.ca_cert);
    REQUIRE(single.ok());
    CHECK(single.value().size() == 1);
    const auto both = load_certificates(bundle);
    REQUIRE(both.ok());
    CHECK(both.value().size() == 2);
}

TEST_CASE("a missing or unparsable CA file is a failure that names the file", "[tls_files]") {
    const Pki& pki = shared_pki();
    const auto missing = load_certificates(pki.dir() / "nope.pem");
    REQUIRE_FALSE(missing.ok());
    CHECK_THAT(missing.error().message, Catch::Contains("nope.pem") && Catch::Contains("does not exist"));
    CHECK(missing.error().code == std::errc::no_such_file_or_directory);

    const auto garbage = load_certificates(pki.garbage_cert);
    REQUIRE_FALSE(garbage.ok());
    CHECK_THAT(garbage.error().message, Catch::Contains("garbage.pem") && Catch::Contains("holds no certificate"));

    const auto a_key = load_certificates(pki.client_key);
    REQUIRE_FALSE(a_key.ok());
    CHECK_THAT(a_key.error().message, Catch::Contains("holds no certificate"));
}

TEST_CASE("a PEM certificate and its key load as a client identity with the chain", "[tls_files]") {
    const Pki& pki = shared_pki();
    const auto with_chain = pki.write("client-chain.pem", read_text(pki.client_cert) + read_text(pki.ca_cert));
    const auto identity = load_client_identity(PemClientCert{with_chain, pki.client_key});
    REQUIRE(identity.ok());
    CHECK(identity.value().certificate != nullptr);
    CHECK(identity.value().private_key != nullptr);
    CHECK(identity.value().chain.size() == 1);
}

TEST_CASE("a PEM key that belongs to another certificate is refused", "[tls_files]") {
    const Pki& pki = shared_pki();
    const auto identity = load_client_identity(PemClientCert{pki.client_cert, pki.mismatched_key});
    REQUIRE_FALSE(identity.ok());
    CHECK_THAT(identity.error().message,
               Catch::Contains("does not match") && Catch::Contains("mismatched.key") && Catch::Contains("client.pem"));
}

TEST_CASE("a PEM pair with a missing key or a garbage certificate names the bad file", "[tls_files]") {
    const Pki& pki = shared_pki();
    const auto no_key = load_client_identity(PemClientCert{pki.client_cert, pki.dir() / "absent.key"});
    REQUIRE_FALSE(no_key.ok());
    CHECK_THAT(no_key.error().message, Catch::Contains("key_file") && Catch::Contains("absent.key"));

    const auto bad_cert = load_client_identity(PemClientCert{pki.garbage_cert, pki.client_key});
    REQUIRE_FALSE(bad_cert.ok());
    CHECK_THAT(bad_cert.error().message, Catch::Contains("cert_file") && Catch::Contains("garbage.pem"));

    const auto cert_as_key = load_client_identity(PemClientCert{pki.client_cert, pki.client_cert});
    REQUIRE_FALSE(cert_as_key.ok());
    CHECK_THAT(cert_as_key.error().message, Catch::Contains("holds no private key"));
}

TEST_CASE("a PKCS#12 file opens with the password from the environment", "[tls_files]") {
    const Pki& pki = shared_pki();
    ScopedEnv password("CERTHEAL_TEST_PFX_OK", pki.pfx_password());
    const auto identity = load_client_identity(PfxClientCert{pki.client_pfx, "CERTHEAL_TEST_PFX_OK", std::nullopt});
    REQUIRE(identity.ok());
    CHECK(identity.value().certificate != nullptr);
    CHECK(identity.value().private_key != nullptr);
    CHECK(identity.value().chain.size() == 1);
}

TEST_CASE("a PKCS#12 password file may end with a line break", "[tls_files]") {
    const Pki& pki = shared_pki();
    const auto unix_file = pki.write("pw-unix.txt", pki.pfx_password() + "\n");
    const auto windows_file = pki.write("pw-windows.txt", pki.pfx_password() + "\r\n");
    const auto bare_file = pki.write("pw-bare.txt", pki.pfx_password());
    for (const auto& file : {unix_file, windows_file, bare_file}) {
        CAPTURE(file.string());
        CHECK(load_client_identity(PfxClientCert{pki.client_pfx, std::nullopt, file}).ok());
    }
}

TEST_CASE("a PKCS#12 file with the wrong password fails without showing the password", "[tls_files]") {
    const Pki& pki = shared_pki();
    const std::string wrong = "Wr0ng-Pa55-Tangerine-7731";
    ScopedEnv password("CERTHEAL_TEST_PFX_WRONG", wrong);
    const auto identity = load_client_identity(PfxClientCert{pki.client_pfx, "CERTHEAL_TEST_PFX_WRONG", std::nullopt});
    REQUIRE_FALSE(identity.ok());
    CHECK_THAT(identity.error().message, Catch::Contains("wrong password") && Catch::Contains("client.pfx"));
    CHECK_THAT(identity.error().message, !Catch::Contains(wrong) && !Catch::Contains(pki.pfx_password()));
}

TEST_CASE("a PKCS#12 password variable that is not set is named in the failure", "[tls_files]") {
    const Pki& pki = shared_pki();
    certheal::test::unset_env("CERTHEAL_TEST_PFX_UNSET");
    const auto identity = load_client_identity(PfxClientCert{pki.client_pfx, "CERTHEAL_TEST_PFX_UNSET", std::nullopt});
    REQUIRE_FALSE(identity.ok());
    CHECK_THAT(identity.error().message, Catch::Contains("CERTHEAL_TEST_PFX_UNSET") && Catch::Contains("not set"));
}

TEST_CASE("a file that is not PKCS#12 is refused as pfx_file", "[tls_files]") {
    const Pki& pki = shared_pki();
    const auto identity = load_client_identity(PfxClientCert{pki.client_cert, std::nullopt, std::nullopt});
    REQUIRE_FALSE(identity.ok());
    CHECK_THAT(identity.error().message, Catch::Contains("is not a PKCS#12"));
}

TEST_CASE("not_after reports the certificate's expiry as system time", "[tls_files]") {
    const Pki& pki = shared_pki();
    const auto now = std::chrono::system_clock::now();
    const auto expired = load_certificates(pki.expired_client_cert);
    REQUIRE(expired.ok());
    const auto expired_at = not_after(*expired.value().front());
    CHECK(expired_at < now);
    CHECK(expired_at > now - 48h);

    const auto valid = load_certificates(pki.client_cert);
    REQUIRE(valid.ok());
    const auto valid_until = not_after(*valid.value().front());
    CHECK(valid_until > now + 364 * 24h);
    CHECK(valid_until < now + 366 * 24h);
}
