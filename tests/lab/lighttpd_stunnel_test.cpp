// lighttpd (mod_openssl) and stunnel requiring client certificates, and what certheal makes of
// each answer (tests/support/lab_servers.hpp). Both refuse in the TLS handshake, never in HTTP.

#include <catch2/catch.hpp>

#include "support/lab_servers.hpp"
#include "support/server_matrix.hpp"

using namespace certheal;
using namespace certheal::test;

TEST_CASE("lighttpd ssl.verifyclient.enforce with a CRL (TLS 1.3) refuses by alert in the handshake",
          "[lab][servers][lighttpd]") {
    const LighttpdLab lighttpd(shared_lab_pki());
    check_server_mode("lighttpd", lighttpd, "enforce", refused_by_alert_in_the_tls13_handshake());
}

TEST_CASE("stunnel verifyChain and requireCert with a CRLfile (TLS 1.3) refuses by alert in the handshake",
          "[lab][servers][stunnel]") {
    const StunnelLab stunnel(shared_lab_pki());
    check_server_mode("stunnel", stunnel, "require", refused_by_alert_in_the_tls13_handshake());
}
