// HAProxy terminating TLS with client certificates, configured the ways its admins do it, and
// what certheal makes of each answer (tests/support/lab_servers.hpp: one haproxy, every mode).

#include <catch2/catch.hpp>

#include "support/lab_servers.hpp"
#include "support/server_matrix.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace certheal::test::lab_classes;

namespace {

const HaproxyLab& haproxy() {
    static const HaproxyLab server(shared_lab_pki());
    return server;
}

void check_mode(const std::string& mode, const std::vector<LabCase>& cases) {
    check_server_mode("HAProxy", haproxy(), mode, cases);
}

}  // namespace

TEST_CASE("HAProxy verify required with a crl-file (TLS 1.3) refuses by alert in the handshake",
          "[lab][servers][haproxy]") {
    check_mode("verify-required", refused_by_alert_in_the_tls13_handshake());
}

TEST_CASE("HAProxy verify optional ca-ignore-err all refuses a certificate of another CA in the handshake when it comes alone",
          "[lab][servers][haproxy]") {
    // ca-ignore-err waives the errors HAProxy finds above the client's certificate. certheal
    // presents its certificate without its issuer, so the unknown issuer is an error of the
    // certificate itself (depth 0): HAProxy ends the handshake with unknown_ca, and its deny
    // rule only ever sees clients without a certificate. An expired or revoked certificate
    // also ends the handshake with its alert.
    check_mode("verify-optional", {
        {ClientCase::good, Trust::issuer, "200 ok", healthy},
        {ClientCase::good, Trust::other_ca, "alert unknown_ca", rejected},
        {ClientCase::none, Trust::issuer, "403 Request forbidden by administrative rules.", unexpected},
        {ClientCase::expired, Trust::issuer, "alert certificate_expired", invalid},
        {ClientCase::revoked, Trust::issuer, "alert certificate_revoked", invalid},
    });
}

TEST_CASE("HAProxy verify optional with ca-ignore-err all and crt-ignore-err all denies every bad certificate with its 403",
          "[lab][servers][haproxy]") {
    // Every verification error waived: the deny rule answers all of them alike, and only the
    // CertificateRequest and certheal's own dates tell them apart.
    check_mode("verify-optional-all", {
        {ClientCase::good, Trust::issuer, "200 ok", healthy},
        {ClientCase::good, Trust::other_ca, "403 Request forbidden by administrative rules.", rejected},
        {ClientCase::none, Trust::issuer, "403 Request forbidden by administrative rules.", unexpected},
        {ClientCase::expired, Trust::issuer, "403 Request forbidden by administrative rules.", invalid},
        {ClientCase::revoked, Trust::issuer, "403 Request forbidden by administrative rules.", unexpected},
    });
}
