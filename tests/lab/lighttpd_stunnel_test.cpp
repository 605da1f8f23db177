// lighttpd (mod_openssl) and stunnel requiring client certificates, and what certheal makes of
// each answer (tests/support/lab_servers.hpp). Both refuse in the TLS handshake, never in HTTP.

#include <catch2/catch.hpp>

#include "support/lab_servers.hpp"
#include "support/server_matrix.hpp"

using namespace certheal;
using namespace certheal::test;

namespace {

const LabPki& pki() {
    static const LabPki lab;
    return lab;
}

constexpr auto healthy = ProbeClass::healthy;
constexpr auto rejected = ProbeClass::client_cert_rejected;
constexpr auto invalid = ProbeClass::client_cert_invalid;

}  // namespace

TEST_CASE("lighttpd ssl.verifyclient.enforce with a CRL (TLS 1.3) refuses by alert in the handshake",
          "[lab][servers][lighttpd]") {
    const LighttpdLab lighttpd(pki());
    for (const auto& lab_case : std::vector<LabCase>{
             {ClientCase::good, Trust::issuer, "200 ok", healthy},
             {ClientCase::good, Trust::other_ca, "alert unknown_ca", rejected},
             {ClientCase::none, Trust::issuer, "alert certificate_required", rejected},
             {ClientCase::expired, Trust::issuer, "alert certificate_expired", invalid},
             {ClientCase::revoked, Trust::issuer, "alert certificate_revoked", invalid},
         }) {
        check_lab_case(pki(), lighttpd.port("enforce", lab_case.trust), lab_case);
    }
}

TEST_CASE("stunnel verifyChain and requireCert with a CRLfile (TLS 1.3) refuses by alert in the handshake",
          "[lab][servers][stunnel]") {
    const StunnelLab stunnel(pki());
    for (const auto& lab_case : std::vector<LabCase>{
             {ClientCase::good, Trust::issuer, "200 ok", healthy},
             {ClientCase::good, Trust::other_ca, "alert unknown_ca", rejected},
             {ClientCase::none, Trust::issuer, "alert certificate_required", rejected},
             {ClientCase::expired, Trust::issuer, "alert certificate_expired", invalid},
             {ClientCase::revoked, Trust::issuer, "alert certificate_revoked", invalid},
         }) {
        check_lab_case(pki(), stunnel.port("require", lab_case.trust), lab_case);
    }
}
