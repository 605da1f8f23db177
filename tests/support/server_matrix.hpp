#pragma once
// The lab cases of a third-party server, as one table per mode: for each case, what the server
// answers on the wire (seen by curl, a client that offers TLS 1.3 post-handshake authentication
// like browsers do) and the class certheal gives it. Catch2 test helper: include it from lab
// test files only.
#if defined(__unix__) || defined(__APPLE__)

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/model/probe_result.hpp"
#include "support/lab_servers.hpp"

namespace certheal::test {

struct LabCase {
    ClientCase client;
    Trust trust;
    // "200", "400 No required SSL certificate was sent" (status, then text the page holds), or
    // "alert unknown_ca" (the alert the server sent).
    std::string wire;
    ProbeClass expected;
};

// Checks one case against the listener at `port`: the wire answer, then certheal's class and
// that its evidence (status or alert) is the one on the wire.
inline void check_lab_case(const LabFiles& lab, std::uint16_t port, const LabCase& lab_case) {
    INFO("case: " << to_string(lab_case.client) << ", server trusts " << to_string(lab_case.trust) << " (port " << port
                  << ")");
    const auto wire = curl_answer(lab, port, lab_case.client);
    INFO("on the wire: " << wire.summary());
    const auto result = probe_lab_site(lab_site(lab, port, lab_case.client));
    INFO("certheal: " << probe_evidence(result).dump());

    if (lab_case.wire.rfind("alert ", 0) == 0) {
        const std::string alert = lab_case.wire.substr(6);
        CHECK(wire.alert == std::optional<std::string>(alert));
        CHECK_FALSE(wire.status);
        CHECK(result.tls_alert == std::optional<std::string>(alert));
    } else {
        const int status = std::stoi(lab_case.wire.substr(0, 3));
        CHECK(wire.status == std::optional<int>(status));
        if (lab_case.wire.size() > 4) CHECK_THAT(wire.body, Catch::Contains(lab_case.wire.substr(4)));
        CHECK(result.status == std::optional<int>(status));
    }
    CHECK(to_string(result.probe_class) == to_string(lab_case.expected));
}

// The lab PKI (lab.sh pki: the CAs, certheal's client certificates, the CRL) that the tests of
// the third-party servers share: made once per test run.
inline const LabPki& shared_lab_pki() {
    static const LabPki lab;
    return lab;
}

// Every case of a table against the listeners of `server` for `mode`, with the shared lab PKI.
inline void check_server_mode(const std::string& server_name, const LabServer& server, const std::string& mode,
                              const std::vector<LabCase>& cases) {
    INFO(server_name << " mode: " << mode);
    for (const auto& lab_case : cases) check_lab_case(shared_lab_pki(), server.port(mode, lab_case.trust), lab_case);
}

// The classes of the tables, by short names: `using namespace certheal::test::lab_classes;`.
namespace lab_classes {
inline constexpr auto healthy = ProbeClass::healthy;
inline constexpr auto rejected = ProbeClass::client_cert_rejected;
inline constexpr auto invalid = ProbeClass::client_cert_invalid;
inline constexpr auto unexpected = ProbeClass::unexpected_status;
}  // namespace lab_classes

// How a server that requires a certificate for the whole host on TLS 1.3 and checks a CRL
// refuses every bad client: by an alert in the handshake, each alert naming what is wrong.
inline std::vector<LabCase> refused_by_alert_in_the_tls13_handshake() {
    using namespace lab_classes;
    return {
        {ClientCase::good, Trust::issuer, "200 ok", healthy},
        {ClientCase::good, Trust::other_ca, "alert unknown_ca", rejected},
        {ClientCase::none, Trust::issuer, "alert certificate_required", rejected},
        {ClientCase::expired, Trust::issuer, "alert certificate_expired", invalid},
        {ClientCase::revoked, Trust::issuer, "alert certificate_revoked", invalid},
    };
}

}  // namespace certheal::test

#endif
