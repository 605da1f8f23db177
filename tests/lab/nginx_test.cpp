// nginx requiring client certificates the two ways its admins do it, answering with its own
// pages (tests/lab/lab.sh), and what certheal makes of each answer. The other-CA case is the
// lab's desync: nginx reloaded with the unrelated CA as ssl_client_certificate.

#include <catch2/catch.hpp>

#include "support/lab.hpp"
#include "support/lab_servers.hpp"
#include "support/server_matrix.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace certheal::test::lab_classes;

namespace {

NginxLab& nginx() {
    static NginxLab lab;
    return lab;
}

// The cases against the good CA first, then the desynchronised one, then the lab as it was.
void check_cases(std::uint16_t port, const std::vector<LabCase>& cases) {
    for (const auto& lab_case : cases) {
        if (lab_case.trust == Trust::issuer) check_lab_case(nginx(), port, lab_case);
    }
    nginx().desync();
    for (const auto& lab_case : cases) {
        if (lab_case.trust == Trust::other_ca) check_lab_case(nginx(), port, lab_case);
    }
    nginx().resync();
}

}  // namespace

TEST_CASE("nginx ssl_verify_client on answers its own 400 pages: no certificate sent, or the SSL certificate error",
          "[lab][servers][nginx]") {
    // The certificate of a CA nginx does not trust and a revoked one get the same page; the
    // CertificateRequest (which names the CAs nginx trusts) tells them apart.
    check_cases(nginx().port(), {
        {ClientCase::good, Trust::issuer, "200 ok", healthy},
        {ClientCase::good, Trust::other_ca, "400 The SSL certificate error", rejected},
        {ClientCase::none, Trust::issuer, "400 No required SSL certificate was sent", rejected},
        {ClientCase::expired, Trust::issuer, "400 The SSL certificate error", invalid},
        {ClientCase::revoked, Trust::issuer, "400 The SSL certificate error", invalid},
    });
}

TEST_CASE("nginx ssl_verify_client optional_no_ca with a return 403 rule answers its 403 page to another CA's certificate",
          "[lab][servers][nginx]") {
    // optional_no_ca waives only an unknown issuer: nginx still answers an expired or revoked
    // certificate with its 400 page, before the rule runs.
    check_cases(nginx().optional_port(), {
        {ClientCase::good, Trust::issuer, "200 ok", healthy},
        {ClientCase::good, Trust::other_ca, "403 403 Forbidden", rejected},
        {ClientCase::none, Trust::issuer, "403 403 Forbidden", unexpected},
        {ClientCase::expired, Trust::issuer, "400 The SSL certificate error", invalid},
        {ClientCase::revoked, Trust::issuer, "400 The SSL certificate error", invalid},
    });
}
