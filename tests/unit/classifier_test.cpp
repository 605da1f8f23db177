#include <catch2/catch.hpp>

#include <string>

#include "core/probe/classifier.hpp"

using namespace certheal;

namespace {

ProbeObservation answered(int status, std::string body = {}) {
    ProbeObservation observation;
    observation.status = status;
    observation.body = std::move(body);
    return observation;
}

ProbeObservation failed(ProbePhase phase, TransportFailure failure, std::optional<std::string> alert = {},
                        bool client_cert_configured = false, bool server_requested_client_cert = false) {
    ProbeObservation observation;
    observation.phase = phase;
    observation.failure = failure;
    observation.tls_alert = std::move(alert);
    observation.client_cert_configured = client_cert_configured;
    observation.server_requested_client_cert = server_requested_client_cert;
    return observation;
}

constexpr const char* kIis4037 =
    "<html><head><title>IIS 10.0 Detailed Error - 403.7 - Forbidden</title></head>"
    "<body><h3>HTTP Error 403.7 - Forbidden</h3><h4>The page you are attempting to access requires your "
    "browser to have a Secure Sockets Layer (SSL) client certificate that the Web server recognizes.</h4></body></html>";
constexpr const char* kIis40316 =
    "<h3>HTTP Error 403.16 - Forbidden</h3><h4>Your client certificate is either not trusted or is invalid.</h4>";
constexpr const char* kIis40313 =
    "<h3>HTTP Error 403.13 - Forbidden</h3><h4>The client certificate used for this request has been revoked by the "
    "Web server's certificate authority.</h4>";
constexpr const char* kIis40317 =
    "<h3>HTTP Error 403.17 - Forbidden</h3><h4>Your client certificate has expired or is not yet valid.</h4>";

std::shared_ptr<const RejectionPattern> pattern(const char* text) {
    auto compiled = RejectionPattern::compile(text);
    REQUIRE(compiled.ok());
    return compiled.value();
}

}  // namespace

TEST_CASE("responses are classified by status and body", "[classifier]") {
    struct Row {
        const char* description;
        ProbeObservation observation;
        SiteRules rules;
        ProbeClass expected;
        std::optional<int> substatus;
    };
    const SiteRules defaults;
    SiteRules accepts_204{{200, 204}, nullptr};
    SiteRules custom_pattern{{200}, pattern("cert(ificate)? (missing|rejected)")};
    SiteRules broad_pattern{{200}, pattern("403")};

    const Row rows[] = {
        {"200 with the default expectation", answered(200, "ok"), defaults, ProbeClass::healthy, {}},
        {"204 when the site expects 200 and 204", answered(204), accepts_204, ProbeClass::healthy, {}},
        {"204 when the site expects only 200", answered(204), defaults, ProbeClass::unexpected_status, {}},
        {"the IIS 403.7 page", answered(403, kIis4037), defaults, ProbeClass::client_cert_rejected, 7},
        {"the lab's 403.7 line", answered(403, "HTTP Error 403.7 - Forbidden: Client certificate required"), defaults,
         ProbeClass::client_cert_rejected, 7},
        {"403.7 at the very end of the body", answered(403, "HTTP Error 403.7"), defaults,
         ProbeClass::client_cert_rejected, 7},
        {"IIS 403.16 (a presented certificate the server does not trust) is the desynchronised trust",
         answered(403, kIis40316), defaults, ProbeClass::client_cert_rejected, 16},
        {"IIS 403.17 (expired or not yet valid) is an invalid certificate", answered(403, kIis40317), defaults,
         ProbeClass::client_cert_invalid, 17},
        {"IIS 403.13 (revoked) is an invalid certificate", answered(403, kIis40313), defaults,
         ProbeClass::client_cert_invalid, 13},
        {"403.17 even with a pattern that matches any 403", answered(403, kIis40317), broad_pattern,
         ProbeClass::client_cert_invalid, 17},
        {"403.160 is not 403.16", answered(403, "HTTP Error 403.160"), defaults, ProbeClass::unexpected_status, 160},
        {"403.18 (another application pool) is not about certificates", answered(403, "HTTP Error 403.18"), defaults,
         ProbeClass::unexpected_status, 18},
        {"403.70 is not 403.7", answered(403, "HTTP Error 403.70"), defaults, ProbeClass::unexpected_status, 70},
        {"a bare 403 without any sub-status", answered(403, "Forbidden"), defaults, ProbeClass::unexpected_status, {}},
        {"an empty 403", answered(403), defaults, ProbeClass::unexpected_status, {}},
        {"the phrase in another case", answered(403, "<h1>Client Certificate Required</h1>"), defaults,
         ProbeClass::client_cert_rejected, {}},
        {"403.16 with a custom pattern that does not match it", answered(403, kIis40316), custom_pattern,
         ProbeClass::client_cert_rejected, 16},
        {"403.17 even if it also says the phrase",
         answered(403, "HTTP Error 403.17 - client certificate required"), defaults, ProbeClass::client_cert_invalid, 17},
        {"a custom pattern that matches", answered(403, "client certificate missing"), custom_pattern,
         ProbeClass::client_cert_rejected, {}},
        {"a custom pattern that does not match", answered(403, "go away"), custom_pattern,
         ProbeClass::unexpected_status, {}},
        {"a 401 that mentions 403.7 is not a rejection", answered(401, "HTTP Error 403.7"), defaults,
         ProbeClass::unexpected_status, {}},
        {"500", answered(500, "oops"), defaults, ProbeClass::unexpected_status, {}},
        {"404", answered(404), defaults, ProbeClass::unexpected_status, {}},
        {"a 403 expected by the site is healthy", answered(403, "HTTP Error 403.7"), SiteRules{{403}, nullptr},
         ProbeClass::healthy, 7},
        {"a status read before the body timed out still counts",
         [] {
             auto observation = answered(403, "HTTP Error 403.7");
             observation.failure = TransportFailure::timed_out;
             return observation;
         }(),
         defaults, ProbeClass::client_cert_rejected, 7},
    };
    for (const auto& row : rows) {
        INFO(row.description);
        const auto result = classify(row.observation, row.rules);
        CHECK(to_string(result.cls) == to_string(row.expected));
        CHECK(result.iis_substatus == row.substatus);
    }
}

TEST_CASE("transport failures are classified by how the connection ended", "[classifier]") {
    struct Row {
        const char* description;
        ProbeObservation observation;
        ProbeClass expected;
    };
    const Row rows[] = {
        {"refused", failed(ProbePhase::connect, TransportFailure::refused), ProbeClass::connect_failed},
        {"reset during connect", failed(ProbePhase::connect, TransportFailure::reset), ProbeClass::connect_failed},
        {"reset during the handshake", failed(ProbePhase::tls, TransportFailure::reset), ProbeClass::connect_failed},
        {"unreachable", failed(ProbePhase::connect, TransportFailure::unreachable), ProbeClass::connect_failed},
        {"closed before the handshake", failed(ProbePhase::tls, TransportFailure::closed), ProbeClass::connect_failed},
        {"closed after the request without an answer", failed(ProbePhase::response, TransportFailure::closed),
         ProbeClass::connect_failed},
        {"unknown host", failed(ProbePhase::resolve, TransportFailure::name_not_resolved), ProbeClass::connect_failed},
        {"resolve timeout", failed(ProbePhase::resolve, TransportFailure::timed_out), ProbeClass::timeout},
        {"connect timeout", failed(ProbePhase::connect, TransportFailure::timed_out), ProbeClass::timeout},
        {"handshake timeout", failed(ProbePhase::tls, TransportFailure::timed_out), ProbeClass::timeout},
        {"response timeout", failed(ProbePhase::response, TransportFailure::timed_out), ProbeClass::timeout},
        {"server certificate invalid", failed(ProbePhase::tls, TransportFailure::server_cert_invalid),
         ProbeClass::tls_error},
        {"protocol failure", failed(ProbePhase::tls, TransportFailure::tls_protocol), ProbeClass::tls_error},
        {"client certificate could not be loaded", failed(ProbePhase::tls, TransportFailure::local_setup),
         ProbeClass::tls_error},
        {"unknown failure during the handshake", failed(ProbePhase::tls, TransportFailure::other), ProbeClass::tls_error},
        {"unknown failure during connect", failed(ProbePhase::connect, TransportFailure::other),
         ProbeClass::connect_failed},
        {"an answer that is not HTTP after the handshake", failed(ProbePhase::response, TransportFailure::http_protocol),
         ProbeClass::unexpected_status},
    };
    for (const auto& row : rows) {
        INFO(row.description);
        CHECK(to_string(classify(row.observation, SiteRules{}).cls) == to_string(row.expected));
    }
}

TEST_CASE("TLS alerts about the server's trust are rejections, about the certificate itself invalid, others TLS errors",
          "[classifier]") {
    struct Row {
        const char* alert;
        ProbePhase phase;
        bool client_cert_configured;
        bool server_requested_client_cert;
        ProbeClass expected;
    };
    const Row rows[] = {
        {"certificate_required", ProbePhase::response, false, true, ProbeClass::client_cert_rejected},
        {"certificate_required", ProbePhase::tls, false, false, ProbeClass::client_cert_rejected},
        {"bad_certificate", ProbePhase::tls, true, true, ProbeClass::client_cert_rejected},
        {"unknown_ca", ProbePhase::response, true, true, ProbeClass::client_cert_rejected},
        {"unknown_ca", ProbePhase::tls, true, true, ProbeClass::client_cert_rejected},
        {"certificate_unknown", ProbePhase::tls, true, true, ProbeClass::client_cert_rejected},
        {"certificate_expired", ProbePhase::tls, true, true, ProbeClass::client_cert_invalid},
        {"certificate_revoked", ProbePhase::tls, true, true, ProbeClass::client_cert_invalid},
        {"certificate_expired", ProbePhase::response, true, true, ProbeClass::client_cert_invalid},
        {"no_certificate", ProbePhase::tls, false, true, ProbeClass::client_cert_rejected},
        {"unsupported_certificate", ProbePhase::tls, true, true, ProbeClass::client_cert_rejected},
        {"access_denied", ProbePhase::tls, true, true, ProbeClass::client_cert_rejected},
        {"handshake_failure", ProbePhase::tls, true, false, ProbeClass::tls_error},
        {"handshake_failure", ProbePhase::tls, false, true, ProbeClass::client_cert_rejected},
        {"handshake_failure", ProbePhase::tls, true, true, ProbeClass::client_cert_rejected},
        {"handshake_failure", ProbePhase::tls, false, false, ProbeClass::tls_error},
        {"protocol_version", ProbePhase::tls, true, true, ProbeClass::tls_error},
        {"internal_error", ProbePhase::tls, true, true, ProbeClass::tls_error},
        {"decrypt_error", ProbePhase::tls, false, false, ProbeClass::tls_error},
        {"unrecognized_name", ProbePhase::tls, false, false, ProbeClass::tls_error},
        {"illegal_parameter", ProbePhase::tls, true, false, ProbeClass::tls_error},
    };
    for (const auto& row : rows) {
        INFO(row.alert << " in phase " << to_string(row.phase) << ", client cert configured "
                       << row.client_cert_configured << ", requested " << row.server_requested_client_cert);
        const auto observation = failed(row.phase, TransportFailure::tls_alert, std::string(row.alert),
                                        row.client_cert_configured, row.server_requested_client_cert);
        CHECK(to_string(classify(observation, SiteRules{}).cls) == to_string(row.expected));
    }
}

TEST_CASE("certheal's own certificate outside its validity explains every refusal, but not a healthy or silent site",
          "[classifier]") {
    struct Row {
        const char* description;
        ProbeObservation observation;
        ProbeClass expected;
    };
    const auto outside_validity = [](ProbeObservation observation) {
        observation.client_cert_configured = true;
        observation.client_cert_outside_validity = true;
        return observation;
    };
    const Row rows[] = {
        {"403.16", outside_validity(answered(403, kIis40316)), ProbeClass::client_cert_invalid},
        {"403.7", outside_validity(answered(403, kIis4037)), ProbeClass::client_cert_invalid},
        {"an unexpected 500", outside_validity(answered(500)), ProbeClass::client_cert_invalid},
        {"alert unknown_ca", outside_validity(failed(ProbePhase::tls, TransportFailure::tls_alert, "unknown_ca")),
         ProbeClass::client_cert_invalid},
        {"a reset after the server asked for a certificate",
         outside_validity(failed(ProbePhase::tls, TransportFailure::reset, {}, true, true)),
         ProbeClass::client_cert_invalid},
        {"200 stays healthy", outside_validity(answered(200, "ok")), ProbeClass::healthy},
        {"a refused connection stays connect_failed",
         outside_validity(failed(ProbePhase::connect, TransportFailure::refused)), ProbeClass::connect_failed},
        {"a timeout stays a timeout", outside_validity(failed(ProbePhase::tls, TransportFailure::timed_out)),
         ProbeClass::timeout},
        {"a reset before any certificate request stays connect_failed",
         outside_validity(failed(ProbePhase::tls, TransportFailure::reset)), ProbeClass::connect_failed},
    };
    for (const auto& row : rows) {
        INFO(row.description);
        CHECK(to_string(classify(row.observation, SiteRules{}).cls) == to_string(row.expected));
    }
}

TEST_CASE("an alert failure without a known alert name is a TLS error", "[classifier]") {
    const auto observation = failed(ProbePhase::tls, TransportFailure::tls_alert, std::nullopt, true, true);
    CHECK(classify(observation, SiteRules{}).cls == ProbeClass::tls_error);
}

TEST_CASE("the IIS sub-status is the number after the first 403 in the body", "[classifier]") {
    CHECK(find_iis_substatus("HTTP Error 403.7 - Forbidden") == 7);
    CHECK(find_iis_substatus("HTTP Error 403.16 - Forbidden") == 16);
    CHECK(find_iis_substatus("HTTP Error 403.17") == 17);
    CHECK(find_iis_substatus("error 1403.7 in line 403.5") == 5);
    CHECK(find_iis_substatus("HTTP Error 403. Forbidden") == std::nullopt);
    CHECK(find_iis_substatus("HTTP Error 403 - Forbidden") == std::nullopt);
    CHECK(find_iis_substatus("") == std::nullopt);
}

TEST_CASE("alert codes have the RFC names", "[classifier]") {
    CHECK(tls_alert_name(116) == "certificate_required");
    CHECK(tls_alert_name(48) == "unknown_ca");
    CHECK(tls_alert_name(42) == "bad_certificate");
    CHECK(tls_alert_name(40) == "handshake_failure");
    CHECK(tls_alert_name(46) == "certificate_unknown");
    CHECK(tls_alert_name(201) == "alert_201");
}
