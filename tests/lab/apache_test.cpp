// Apache httpd with mod_ssl, configured the ways its admins require client certificates, and
// what certheal makes of each answer (tests/support/lab_servers.hpp: one httpd serves every mode).

#include <catch2/catch.hpp>

#include "support/lab_servers.hpp"
#include "support/server_matrix.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace certheal::test::lab_classes;

namespace {

const ApacheLab& apache() {
    static const ApacheLab server(shared_lab_pki());
    return server;
}

void check_mode(const std::string& mode, const std::vector<LabCase>& cases) {
    check_server_mode("Apache", apache(), mode, cases);
}

}  // namespace

TEST_CASE("Apache SSLVerifyClient require for the whole host (TLS 1.3) refuses by alert in the handshake",
          "[lab][servers][apache]") {
    check_mode("require", refused_by_alert_in_the_tls13_handshake());
}

TEST_CASE("Apache SSLVerifyClient require in a <Location> on TLS 1.2 asks by renegotiation and refuses by alert",
          "[lab][servers][apache]") {
    check_mode("location-tls12", {
        {ClientCase::good, Trust::issuer, "200 ok", healthy},
        {ClientCase::good, Trust::other_ca, "alert unknown_ca", rejected},
        {ClientCase::none, Trust::issuer, "alert handshake_failure", rejected},
        {ClientCase::expired, Trust::issuer, "alert certificate_expired", invalid},
        {ClientCase::revoked, Trust::issuer, "alert certificate_revoked", invalid},
    });
}

TEST_CASE("Apache SSLVerifyClient require in a <Location> on TLS 1.3 asks by post-handshake authentication",
          "[lab][servers][apache]") {
    check_mode("location-tls13", refused_by_alert_in_the_tls13_handshake());
}

TEST_CASE("Apache in a <Location> on TLS 1.3 answers a client that offers no post-handshake authentication 403",
          "[lab][servers][apache]") {
    // What certheal got before it offered post-handshake authentication, and what any such
    // client gets: Apache's 403 page with its reason, whatever the certificate.
    const auto port = apache().port("location-tls13", Trust::issuer);
    const auto& pki = shared_lab_pki();
    const auto outcome = run_command({"sh", "-c",
                                      "printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' | "
                                      "openssl s_client -quiet -connect 127.0.0.1:" + std::to_string(port) +
                                          " -servername localhost -CAfile " + pki.value("server_ca") + " -cert " +
                                          pki.value("client_cert") + " -key " + pki.value("client_key") +
                                          " 2>/dev/null"});
    INFO(outcome.output);
    CHECK_THAT(outcome.output, Catch::StartsWith("HTTP/1.1 403 Forbidden") &&
                                   Catch::Contains("Cannot perform Post-Handshake Authentication"));
}

TEST_CASE("Apache SSLVerifyClient optional_no_ca with Require expr answers 403 to a certificate of another CA",
          "[lab][servers][apache]") {
    // optional_no_ca waives only the errors of an unknown issuer: an expired or a revoked
    // certificate still ends the handshake with its alert.
    check_mode("optional-no-ca", {
        {ClientCase::good, Trust::issuer, "200 ok", healthy},
        {ClientCase::good, Trust::other_ca, "403 You don't have permission to access this resource", rejected},
        {ClientCase::none, Trust::issuer, "403 You don't have permission to access this resource", unexpected},
        {ClientCase::expired, Trust::issuer, "alert certificate_expired", invalid},
        {ClientCase::revoked, Trust::issuer, "alert certificate_revoked", invalid},
    });
}
