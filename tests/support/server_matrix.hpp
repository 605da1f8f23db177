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

}  // namespace certheal::test

#endif
