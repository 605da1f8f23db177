#include "core/probe/classifier.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace certheal {
namespace {

constexpr std::string_view kRejectionPhrase = "client certificate required";

constexpr std::array<std::pair<int, std::string_view>, 33> kAlertNames{{
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {21, "decryption_failed"},
    {22, "record_overflow"},
    {30, "decompression_failure"},
    {40, "handshake_failure"},
    {41, "no_certificate"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {60, "export_restriction"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {100, "no_renegotiation"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {111, "certificate_unobtainable"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {114, "bad_certificate_hash_value"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
}};

// Alerts a server sends when it did not accept (or did not get) the client's certificate
// because of whom it trusts.
constexpr std::array<std::string_view, 7> kTrustRejectionAlerts{
    "certificate_required", "bad_certificate", "unknown_ca",     "certificate_unknown",
    "unsupported_certificate", "access_denied", "no_certificate",
};
// Alerts about the certificate itself, which no change of the server's trust cures.
constexpr std::array<std::string_view, 2> kInvalidCertificateAlerts{"certificate_expired", "certificate_revoked"};

// IIS sub-statuses of 403 (IIS 7+ detailed errors; the status line only ever says 403). 403.7,
// no (acceptable) certificate presented, is the site's rejection_pattern's to recognise.
constexpr int kIisClientCertificateRevoked = 13;
constexpr int kIisClientCertificateUntrusted = 16;  // presented, but its chain is not trusted
constexpr int kIisClientCertificateExpired = 17;    // or not yet valid

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

bool contains_case_insensitive(std::string_view haystack, std::string_view needle) {
    const auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    });
    return it != haystack.end();
}

// What a 403 says about the client certificate, if anything. certheal always presents its
// certificate, so a desynchronised IIS answers it with 403.16 where a browser without one
// gets 403.7: both mean the trust is out of sync.
std::optional<ProbeClass> certificate_class_of_forbidden(const std::string& body, std::optional<int> substatus,
                                                         const RejectionPattern& pattern) {
    if (substatus == kIisClientCertificateUntrusted) return ProbeClass::client_cert_rejected;
    if (substatus == kIisClientCertificateExpired || substatus == kIisClientCertificateRevoked) {
        return ProbeClass::client_cert_invalid;
    }
    // Other sub-statuses (403.70, 403.18, ...) only count when the site's pattern or IIS's
    // phrase says so; the guarded default pattern never matches them.
    const std::string_view searched = std::string_view(body).substr(0, RejectionPattern::kSearchedBytes);
    if (pattern.found_in(searched) || contains_case_insensitive(searched, kRejectionPhrase)) {
        return ProbeClass::client_cert_rejected;
    }
    return std::nullopt;
}

ProbeClass classify_transport_failure(const ProbeObservation& observation) {
    switch (observation.failure) {
    case TransportFailure::timed_out:
        return ProbeClass::timeout;
    case TransportFailure::name_not_resolved:
    case TransportFailure::refused:
    case TransportFailure::reset:
    case TransportFailure::unreachable:
    case TransportFailure::closed:
        return ProbeClass::connect_failed;
    case TransportFailure::tls_alert: {
        if (!observation.tls_alert) return ProbeClass::tls_error;
        return certificate_class_of_alert(*observation.tls_alert, observation.server_requested_client_cert)
            .value_or(ProbeClass::tls_error);
    }
    case TransportFailure::server_cert_invalid:
    case TransportFailure::tls_protocol:
    case TransportFailure::local_setup:
        return ProbeClass::tls_error;
    case TransportFailure::http_protocol:
        // The server did answer, only not in HTTP: an answer certheal did not expect, never a
        // failed connection (a default symptom that would start a repair).
        return ProbeClass::unexpected_status;
    case TransportFailure::other:
    case TransportFailure::none:
        break;
    }
    return observation.phase == ProbePhase::tls ? ProbeClass::tls_error : ProbeClass::connect_failed;
}

// The server answered and the answer was no: an unhealthy status, a fatal alert, or the
// connection dropped once it had asked for a certificate.
bool server_refused(const ProbeObservation& observation, ProbeClass cls) {
    if (observation.status) return cls != ProbeClass::healthy;
    switch (observation.failure) {
    case TransportFailure::tls_alert:
        return true;
    case TransportFailure::closed:
    case TransportFailure::reset:
    case TransportFailure::tls_protocol:
        return observation.server_requested_client_cert;
    default:
        return false;
    }
}

}  // namespace

std::string_view to_string(ProbePhase phase) noexcept {
    switch (phase) {
    case ProbePhase::resolve: return "resolve";
    case ProbePhase::connect: return "connect";
    case ProbePhase::tls: return "tls";
    case ProbePhase::response: return "response";
    }
    return "response";
}

std::optional<int> find_iis_substatus(std::string_view body) {
    constexpr std::string_view marker = "403.";
    for (std::size_t at = body.find(marker); at != std::string_view::npos; at = body.find(marker, at + 1)) {
        // "1403.7" is not an IIS status; the marker must start a number.
        if (at > 0 && std::isdigit(static_cast<unsigned char>(body[at - 1]))) continue;
        std::size_t digit = at + marker.size();
        int value = 0;
        std::size_t digits = 0;
        while (digit < body.size() && std::isdigit(static_cast<unsigned char>(body[digit])) && digits < 4) {
            value = value * 10 + (body[digit] - '0');
            ++digit;
            ++digits;
        }
        if (digits > 0) return value;
    }
    return std::nullopt;
}

std::optional<ProbeClass> certificate_class_of_alert(std::string_view alert, bool server_requested_client_cert) noexcept {
    if (alert == "handshake_failure") {
        if (server_requested_client_cert) return ProbeClass::client_cert_rejected;
        return std::nullopt;
    }
    if (listed(kTrustRejectionAlerts, alert)) return ProbeClass::client_cert_rejected;
    if (listed(kInvalidCertificateAlerts, alert)) return ProbeClass::client_cert_invalid;
    return std::nullopt;
}

std::string tls_alert_name(int alert_code) {
    for (const auto& [code, name] : kAlertNames) {
        if (code == alert_code) return std::string(name);
    }
    return "alert_" + std::to_string(alert_code);
}

Classification classify(const ProbeObservation& observation, const SiteRules& rules) {
    Classification result;
    if (!observation.status) {
        result.cls = classify_transport_failure(observation);
    } else {
        // A status line was read: the answer decides, even if the body was cut short.
        const int status = *observation.status;
        if (status == 403) result.iis_substatus = find_iis_substatus(observation.body);
        if (std::find(rules.expect_status.begin(), rules.expect_status.end(), status) != rules.expect_status.end()) {
            result.cls = ProbeClass::healthy;
        } else if (status == 403) {
            const auto& pattern = rules.rejection_pattern ? *rules.rejection_pattern : *RejectionPattern::default_pattern();
            result.cls = certificate_class_of_forbidden(observation.body, result.iis_substatus, pattern)
                             .value_or(ProbeClass::unexpected_status);
        } else {
            result.cls = ProbeClass::unexpected_status;
        }
    }
    // An expired certificate explains any refusal of it better than the refusal itself, and no
    // re-sync of the server's trust would cure it. A healthy answer stays healthy (users get
    // in), and a site that is down or silent is not refusing a certificate.
    if (observation.client_cert_outside_validity && server_refused(observation, result.cls)) {
        result.cls = ProbeClass::client_cert_invalid;
    }
    return result;
}

}  // namespace certheal
