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

// An IIS 8.5/10 detailed error page as IIS writes it (heading, then the "Detailed Error
// Information" table), with the given status, sub-status and Error Code.
std::string iis_detailed_error(const std::string& status_dot_sub, const std::string& reason, const std::string& code) {
    return "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" "
           "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\"> \r\n<html xmlns=\"http://www.w3.org/1999/xhtml\"> \r\n"
           "<head> \r\n<title>IIS 10.0 Detailed Error - " + status_dot_sub + " - " + reason + "</title> \r\n</head> \r\n"
           "<body> \r\n<div id=\"content\"> \r\n<div class=\"content-container\"> \r\n  <h3>HTTP Error " + status_dot_sub +
           " - " + reason + "</h3> \r\n</div> \r\n<div class=\"content-container\"> \r\n"
           " <fieldset><h4>Detailed Error Information:</h4> \r\n  <div id=\"details-left\"> \r\n"
           "   <table border=\"0\" cellpadding=\"0\" cellspacing=\"0\"> \r\n"
           "    <tr class=\"alt\"><th>Module</th><td>&nbsp;&nbsp;&nbsp;IIS Web Core</td></tr> \r\n"
           "    <tr><th>Notification</th><td>&nbsp;&nbsp;&nbsp;BeginRequest</td></tr> \r\n"
           "    <tr class=\"alt\"><th>Handler</th><td>&nbsp;&nbsp;&nbsp;StaticFile</td></tr> \r\n"
           "    <tr><th>Error Code</th><td>&nbsp;&nbsp;&nbsp;" + code + "</td></tr> \r\n   </table> \r\n  </div> \r\n"
           " </fieldset> \r\n</div> \r\n</div> \r\n</body> \r\n</html> \r\n";
}

// nginx's own pages for ssl_verify_client (ngx_http_special_response.c).
std::string nginx_page(const std::string& title) {
    return "<html>\r\n<head><title>400 " + title + "</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
           "<center>" + title + "</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
}
const std::string kNginxNoCertificate = nginx_page("No required SSL certificate was sent");
const std::string kNginxCertificateError = nginx_page("The SSL certificate error");

// Apache mod_ssl's 403 when TLS 1.3 post-handshake authentication was not offered.
constexpr const char* kApachePostHandshakeAuth =
    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>403 Forbidden</title>\n</head><body>\n"
    "<h1>Forbidden</h1>\n<p>You don't have permission to access this resource.Reason: Cannot perform "
    "Post-Handshake Authentication.<br />\n</p>\n<hr>\n<address>Apache/2.4.62 (Debian) Server at localhost Port 8443"
    "</address>\n</body></html>\n";

std::shared_ptr<const RejectionPattern> pattern(const char* text) {
    auto compiled = RejectionPattern::compile(text);
    REQUIRE(compiled.ok());
    return compiled.value();
}

ProbeObservation with_issuer_listed(ProbeObservation observation, std::optional<bool> listed) {
    observation.client_cert_configured = true;
    observation.server_requested_client_cert = true;
    observation.client_issuer_listed = listed;
    return observation;
}

ProbeObservation on_tls13(ProbeObservation observation) {
    observation.tls13 = true;
    observation.request_sent = true;
    return observation;
}

ProbeObservation outside_validity(ProbeObservation observation) {
    observation.client_cert_configured = true;
    observation.client_cert_outside_validity = true;
    return observation;
}

}  // namespace

TEST_CASE("answers are classified by the rows of the classification table", "[classifier]") {
    struct Row {
        const char* description;
        ProbeObservation observation;
        SiteRules rules;
        ProbeClass expected;
        ClassRule rule;
        std::optional<int> substatus = std::nullopt;
        std::optional<std::string> win32 = std::nullopt;
    };
    const SiteRules defaults;
    SiteRules accepts_204{{200, 204}, nullptr};
    SiteRules custom_pattern{{200}, pattern("cert(ificate)? (missing|rejected)")};
    SiteRules broad_pattern{{200}, pattern("403")};
    SiteRules policy_pattern{{200}, pattern("denied by policy")};
    using C = ProbeClass;
    using R = ClassRule;

    const Row rows[] = {
        // expected statuses
        {"200 with the default expectation", answered(200, "ok"), defaults, C::healthy, R::expected_status},
        {"204 when the site expects 200 and 204", answered(204), accepts_204, C::healthy, R::expected_status},
        {"204 when the site expects only 200", answered(204), defaults, C::unexpected_status, R::other_status},
        {"a 403 expected by the site is healthy", answered(403, kIis4037), SiteRules{{403}, nullptr}, C::healthy,
         R::expected_status, 7},
        // IIS sub-status, read from the page's title and headings only
        {"the IIS 403.7 page", answered(403, kIis4037), defaults, C::client_cert_rejected, R::iis_substatus, 7},
        {"IIS 403.16 (a presented certificate the server does not trust) is the desynchronised trust",
         answered(403, kIis40316), defaults, C::client_cert_rejected, R::iis_substatus, 16},
        {"IIS 403.17 (expired or not yet valid) is an invalid certificate", answered(403, kIis40317), defaults,
         C::client_cert_invalid, R::iis_substatus, 17},
        {"IIS 403.13 (revoked) is an invalid certificate", answered(403, kIis40313), defaults, C::client_cert_invalid,
         R::iis_substatus, 13},
        {"403.17 even with a pattern that matches any 403", answered(403, kIis40317), broad_pattern,
         C::client_cert_invalid, R::iis_substatus, 17},
        {"403.16 with a custom pattern that does not match it", answered(403, kIis40316), custom_pattern,
         C::client_cert_rejected, R::iis_substatus, 16},
        {"403.17 even if the page also says the phrase",
         answered(403, "<h2>HTTP Error 403.17 - Forbidden</h2><p>client certificate required</p>"), defaults,
         C::client_cert_invalid, R::iis_substatus, 17},
        {"403.160 is not 403.16", answered(403, "<h3>HTTP Error 403.160</h3>"), defaults, C::unexpected_status,
         R::other_status, 160},
        {"403.18 (another application pool) is not about certificates", answered(403, "<h3>HTTP Error 403.18</h3>"),
         defaults, C::unexpected_status, R::other_status, 18},
        {"403.70 is not 403.7", answered(403, "<title>HTTP Error 403.70</title>"), defaults, C::unexpected_status,
         R::other_status, 70},
        {"403.16 in a JSON body is no IIS sub-status",
         answered(403, R"({"error": "403.16", "detail": "HTTP Error 403.16 - Forbidden"})"), defaults,
         C::unexpected_status, R::other_status},
        {"403.7 in plain text is no sub-status, but the default pattern finds it",
         answered(403, "HTTP Error 403.7 - Forbidden: Client certificate required"), defaults, C::client_cert_rejected,
         R::rejection_pattern},
        // IIS detailed errors: the Error Code tells the causes apart
        {"403.16 with 0x800b0109: the CA is not trusted",
         answered(403, iis_detailed_error("403.16", "Forbidden", "0x800b0109")), defaults, C::client_cert_rejected,
         R::iis_win32_status, 16, "0x800B0109 CERT_E_UNTRUSTEDROOT"},
        {"403.16 with 0x800b010a: an intermediate is missing",
         answered(403, iis_detailed_error("403.16", "Forbidden", "0x800b010a")), defaults, C::client_cert_rejected,
         R::iis_win32_status, 16, "0x800B010A CERT_E_CHAINING"},
        {"403.13 with 0x80092010: revoked",
         answered(403, iis_detailed_error("403.13", "Forbidden", "0x80092010")), defaults, C::client_cert_invalid,
         R::iis_win32_status, 13, "0x80092010 CRYPT_E_REVOKED"},
        {"403.13 with 0x80092013: the revocation server is offline",
         answered(403, iis_detailed_error("403.13", "Forbidden", "0x80092013")), defaults,
         C::revocation_unavailable, R::iis_win32_status, 13, "0x80092013 CRYPT_E_REVOCATION_OFFLINE"},
        {"403.13 with 0x80092012: revocation could not be checked",
         answered(403, iis_detailed_error("403.13", "Forbidden", "0x80092012")), defaults,
         C::revocation_unavailable, R::iis_win32_status, 13, "0x80092012 CRYPT_E_NO_REVOCATION_CHECK"},
        {"403.17 with 0x800b0101: expired",
         answered(403, iis_detailed_error("403.17", "Forbidden", "0x800b0101")), defaults, C::client_cert_invalid,
         R::iis_win32_status, 17, "0x800B0101 CERT_E_EXPIRED"},
        {"403.14 with 0x00000000 is not about certificates",
         answered(403, iis_detailed_error("403.14", "Forbidden", "0x00000000")), defaults, C::unexpected_status,
         R::other_status, 14, "0x00000000"},
        {"an unknown code falls back to the sub-status",
         answered(403, iis_detailed_error("403.16", "Forbidden", "0x8009030d")), defaults, C::client_cert_rejected,
         R::iis_substatus, 16, "0x8009030D"},
        {"500.0 with 0x80070032 on TLS 1.3: IIS cannot ask for the certificate after the request",
         on_tls13(answered(500, iis_detailed_error("500.0", "Internal Server Error", "0x80070032"))), defaults,
         C::unexpected_status, R::tls13_per_path_certificate, 0, "0x80070032 ERROR_NOT_SUPPORTED"},
        {"500.0 with 0x80070032 on TLS 1.2 is only an unexpected status",
         answered(500, iis_detailed_error("500.0", "Internal Server Error", "0x80070032")), defaults,
         C::unexpected_status, R::other_status, 0, "0x80070032 ERROR_NOT_SUPPORTED"},
        // nginx's own pages
        {"nginx 400 \"No required SSL certificate was sent\"", answered(400, kNginxNoCertificate), defaults,
         C::client_cert_rejected, R::nginx_no_certificate},
        {"nginx 400 \"The SSL certificate error\" from a server that does not name certheal's issuer",
         with_issuer_listed(answered(400, kNginxCertificateError), false), defaults, C::client_cert_rejected,
         R::nginx_certificate_error},
        {"nginx 400 \"The SSL certificate error\" from a server that names no CA",
         with_issuer_listed(answered(400, kNginxCertificateError), std::nullopt), defaults, C::client_cert_rejected,
         R::nginx_certificate_error},
        {"nginx 400 \"The SSL certificate error\" from a server that names certheal's issuer: revoked or wrong usage",
         with_issuer_listed(answered(400, kNginxCertificateError), true), defaults, C::client_cert_invalid,
         R::nginx_certificate_error},
        {"nginx 400 \"The SSL certificate error\" for certheal's expired certificate",
         outside_validity(with_issuer_listed(answered(400, kNginxCertificateError), true)), defaults,
         C::client_cert_invalid, R::own_certificate_outside_validity},
        {"another 400 of nginx is not about certificates", answered(400, nginx_page("Bad Request")), defaults,
         C::unexpected_status, R::other_status},
        // Apache's post-handshake authentication page
        {"Apache 403 \"Cannot perform Post-Handshake Authentication\" is said as what it is",
         answered(403, kApachePostHandshakeAuth), defaults, C::unexpected_status, R::apache_post_handshake_auth},
        // the server's CA list
        {"a plain 403 from a server whose CA list lacks certheal's issuer",
         with_issuer_listed(answered(403, "Forbidden"), false), defaults, C::client_cert_rejected,
         R::issuer_not_listed},
        {"a 401 from such a server", with_issuer_listed(answered(401), false), defaults, C::client_cert_rejected,
         R::issuer_not_listed},
        {"a 400 from such a server", with_issuer_listed(answered(400, "Bad Request"), false), defaults,
         C::client_cert_rejected, R::issuer_not_listed},
        {"a 404 from such a server is not a refusal", with_issuer_listed(answered(404), false), defaults,
         C::unexpected_status, R::other_status},
        {"a plain 403 from a server that lists certheal's issuer", with_issuer_listed(answered(403, "Forbidden"), true),
         defaults, C::unexpected_status, R::other_status},
        {"a plain 403 from a server that named no CA", with_issuer_listed(answered(403, "Forbidden"), std::nullopt),
         defaults, C::unexpected_status, R::other_status},
        // the site's rejection_pattern, on any unexpected status
        {"a custom pattern that matches a 403", answered(403, "client certificate missing"), custom_pattern,
         C::client_cert_rejected, R::rejection_pattern},
        {"a custom pattern that matches a 500", answered(500, "request denied by policy"), policy_pattern,
         C::client_cert_rejected, R::rejection_pattern},
        {"a custom pattern that matches a 200 the site expects does not count", answered(200, "denied by policy"),
         policy_pattern, C::healthy, R::expected_status},
        {"a custom pattern that does not match", answered(403, "go away"), custom_pattern, C::unexpected_status,
         R::other_status},
        {"the default pattern finds 403.7 in a 401 too", answered(401, "HTTP Error 403.7"), defaults,
         C::client_cert_rejected, R::rejection_pattern},
        {"the phrase in another case", answered(403, "<p>Client Certificate Required</p>"), defaults,
         C::client_cert_rejected, R::rejection_phrase},
        {"the phrase in a 500 is not a rejection", answered(500, "client certificate required"), defaults,
         C::unexpected_status, R::other_status},
        {"a bare 403 without any sub-status", answered(403, "Forbidden"), defaults, C::unexpected_status,
         R::other_status},
        {"an empty 403", answered(403), defaults, C::unexpected_status, R::other_status},
        {"500", answered(500, "oops"), defaults, C::unexpected_status, R::other_status},
        {"404", answered(404), defaults, C::unexpected_status, R::other_status},
        {"a status read before the body timed out still counts",
         [] {
             auto observation = answered(403, kIis4037);
             observation.failure = TransportFailure::timed_out;
             return observation;
         }(),
         defaults, C::client_cert_rejected, R::iis_substatus, 7},
    };
    for (const auto& row : rows) {
        INFO(row.description);
        const auto result = classify(row.observation, row.rules);
        CHECK(to_string(result.probe_class) == to_string(row.expected));
        CHECK(to_string(result.rule) == to_string(row.rule));
        CHECK(result.iis_substatus == row.substatus);
        CHECK((result.iis_win32_status ? std::optional<std::string>(result.iis_win32_status->text()) : std::nullopt) ==
              row.win32);
        CHECK(result.retry_with_tls12 == (row.rule == R::tls13_per_path_certificate));
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
        const auto result = classify(row.observation, SiteRules{});
        CHECK(to_string(result.probe_class) == to_string(row.expected));
        CHECK(to_string(result.rule) == "transport_failure");
        CHECK_FALSE(result.retry_with_tls12);
    }
}

TEST_CASE("a TLS 1.3 connection reset right after the request, without a certificate request, is retried on TLS 1.2",
          "[classifier]") {
    struct Row {
        const char* description;
        ProbeObservation observation;
        bool retry;
    };
    const auto reset_after_request = [](TransportFailure failure) {
        return on_tls13(failed(ProbePhase::response, failure, {}, true, false));
    };
    const Row rows[] = {
        {"reset after the request on TLS 1.3 (IIS on Windows Server 2022)",
         reset_after_request(TransportFailure::reset), true},
        {"closed after the request on TLS 1.3", reset_after_request(TransportFailure::closed), true},
        {"the same on TLS 1.2 is a dropped connection",
         [&] {
             auto observation = reset_after_request(TransportFailure::reset);
             observation.tls13 = false;
             return observation;
         }(),
         false},
        {"a reset before the request went out",
         [&] {
             auto observation = reset_after_request(TransportFailure::reset);
             observation.request_sent = false;
             return observation;
         }(),
         false},
        {"a reset after the server asked for a certificate (post-handshake authentication)",
         [&] {
             auto observation = reset_after_request(TransportFailure::reset);
             observation.server_requested_client_cert = true;
             return observation;
         }(),
         false},
        {"a timeout after the request", reset_after_request(TransportFailure::timed_out), false},
    };
    for (const auto& row : rows) {
        INFO(row.description);
        const auto result = classify(row.observation, SiteRules{});
        CHECK(result.retry_with_tls12 == row.retry);
        CHECK(to_string(result.rule) == (row.retry ? "tls13_per_path_certificate" : "transport_failure"));
        if (row.retry) CHECK(result.probe_class == ProbeClass::connect_failed);
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
        CHECK(to_string(classify(observation, SiteRules{}).probe_class) == to_string(row.expected));
    }
}

TEST_CASE("certheal's own certificate outside its validity explains every refusal, but not a healthy or silent site",
          "[classifier]") {
    struct Row {
        const char* description;
        ProbeObservation observation;
        ProbeClass expected;
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
        {"IIS 403.13 with the revocation server offline",
         outside_validity(answered(403, iis_detailed_error("403.13", "Forbidden", "0x80092013"))),
         ProbeClass::client_cert_invalid},
    };
    for (const auto& row : rows) {
        INFO(row.description);
        CHECK(to_string(classify(row.observation, SiteRules{}).probe_class) == to_string(row.expected));
    }
}

TEST_CASE("an alert failure without a known alert name is a TLS error", "[classifier]") {
    const auto observation = failed(ProbePhase::tls, TransportFailure::tls_alert, std::nullopt, true, true);
    CHECK(classify(observation, SiteRules{}).probe_class == ProbeClass::tls_error);
}

TEST_CASE("the IIS sub-status is read where IIS writes it: the page's title and headings", "[classifier]") {
    struct Row {
        int status;
        std::string body;
        std::optional<int> expected;
    };
    const Row rows[] = {
        {403, "<h3>HTTP Error 403.7 - Forbidden</h3>", 7},
        {403, "<title>IIS 10.0 Detailed Error - 403.16 - Forbidden</title>", 16},
        {403, "<H2 class=\"x\">HTTP Error 403.17</H2>", 17},
        {403, "<h1>Server Error</h1><h2>HTTP Error 403.13 - Forbidden</h2>", 13},
        {500, iis_detailed_error("500.0", "Internal Server Error", "0x80070032"), 0},
        {403, iis_detailed_error("500.0", "Internal Server Error", "0x80070032"), std::nullopt},  // not this status
        {403, "HTTP Error 403.7 - Forbidden", std::nullopt},                                      // no heading
        {403, R"({"substatus": "403.16"})", std::nullopt},
        {403, "<p>HTTP Error 403.16</p>", std::nullopt},
        {403, "<h3>error 1403.7</h3><h3>line 403.5</h3>", 5},
        {403, "<h3>HTTP Error 403. Forbidden</h3>", std::nullopt},
        {403, "<h3>HTTP Error 403 - Forbidden</h3>", std::nullopt},
        {403, "<h3>HTTP Error 403.12345</h3>", std::nullopt},
        {403, "<header>403.7</header><hr>403.7", std::nullopt},
        {403, "<h3>HTTP Error 403.7", 7},  // cut short
        {403, "", std::nullopt},
    };
    for (const auto& row : rows) {
        INFO(row.status << " " << row.body);
        CHECK(find_iis_substatus(row.status, row.body) == row.expected);
    }
}

TEST_CASE("the Error Code of an IIS detailed error page is read with its name", "[classifier]") {
    struct Row {
        std::string body;
        std::optional<std::string> expected;
    };
    const Row rows[] = {
        {iis_detailed_error("403.16", "Forbidden", "0x800b0109"), "0x800B0109 CERT_E_UNTRUSTEDROOT"},
        {"<tr><th>Error Code</th><td>0x80092013</td></tr>", "0x80092013 CRYPT_E_REVOCATION_OFFLINE"},
        {"Error Code: 0x80070032", "0x80070032 ERROR_NOT_SUPPORTED"},
        {"<th>Error Code</th><td>&nbsp;&nbsp;&nbsp;0x1234abcd</td>", "0x1234ABCD"},
        {R"({"Error Code": "0x800b0109"})", std::nullopt},
        {"Error Code 0x800b01", std::nullopt},
        {"Error Code 0x800b0109ff", std::nullopt},
        {"Error Code" + std::string(100, ' ') + "0x800b0109", std::nullopt},
        {"Error Code <td", std::nullopt},
        {"", std::nullopt},
    };
    for (const auto& row : rows) {
        INFO(row.body);
        const auto found = find_iis_win32_status(row.body);
        CHECK((found ? std::optional<std::string>(found->text()) : std::nullopt) == row.expected);
    }
}

TEST_CASE("IIS error codes map to the certificate classes", "[classifier]") {
    struct Row {
        std::uint32_t code;
        std::optional<ProbeClass> expected;
    };
    const Row rows[] = {
        {0x800B0109, ProbeClass::client_cert_rejected}, {0x800B010A, ProbeClass::client_cert_rejected},
        {0x80092010, ProbeClass::client_cert_invalid},  {0x800B0101, ProbeClass::client_cert_invalid},
        {0x80092012, ProbeClass::revocation_unavailable}, {0x80092013, ProbeClass::revocation_unavailable},
        {0x80070032, std::nullopt},                      {0x00000000, std::nullopt},
        {0x80070005, std::nullopt},
    };
    for (const auto& row : rows) {
        INFO((IisWin32Status{row.code, {}}.text()));
        CHECK(certificate_class_of_win32_status(row.code) == row.expected);
    }
}

TEST_CASE("alert codes have the RFC names", "[classifier]") {
    CHECK(tls_alert_name(116) == "certificate_required");
    CHECK(tls_alert_name(48) == "unknown_ca");
    CHECK(tls_alert_name(42) == "bad_certificate");
    CHECK(tls_alert_name(40) == "handshake_failure");
    CHECK(tls_alert_name(46) == "certificate_unknown");
    CHECK(tls_alert_name(201) == "alert_201");
}
