#include "core/probe/classifier.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string>
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

// IIS sub-statuses of 403 (IIS 7+ error pages; the status line only ever says 403).
constexpr int kIisClientCertificateRequired = 7;    // none (acceptable) presented
constexpr int kIisClientCertificateRevoked = 13;
constexpr int kIisClientCertificateUntrusted = 16;  // presented, but its chain is not trusted
constexpr int kIisClientCertificateExpired = 17;    // or not yet valid

// The Windows error codes IIS shows for a client certificate (winerror.h), and what each means.
struct Win32StatusRow {
    std::uint32_t code;
    std::string_view name;
    std::optional<ProbeClass> probe_class;  // for a 403; empty: no class of its own
};
constexpr std::array<Win32StatusRow, 15> kWin32Statuses{{
    {0x800B0109, "CERT_E_UNTRUSTEDROOT", ProbeClass::client_cert_rejected},
    {0x800B010A, "CERT_E_CHAINING", ProbeClass::client_cert_rejected},
    {0x800B0112, "CERT_E_UNTRUSTEDCA", ProbeClass::client_cert_rejected},
    {0x80090325, "SEC_E_UNTRUSTED_ROOT", ProbeClass::client_cert_rejected},
    {0x80092010, "CRYPT_E_REVOKED", ProbeClass::client_cert_invalid},
    {0x800B010C, "CERT_E_REVOKED", ProbeClass::client_cert_invalid},
    {0x800B0101, "CERT_E_EXPIRED", ProbeClass::client_cert_invalid},
    {0x80090328, "SEC_E_CERT_EXPIRED", ProbeClass::client_cert_invalid},
    {0x800B0110, "CERT_E_WRONG_USAGE", ProbeClass::client_cert_invalid},
    {0x80092012, "CRYPT_E_NO_REVOCATION_CHECK", ProbeClass::revocation_unavailable},
    {0x80092013, "CRYPT_E_REVOCATION_OFFLINE", ProbeClass::revocation_unavailable},
    {0x800B010E, "CERT_E_REVOCATION_FAILURE", ProbeClass::revocation_unavailable},
    {kIisCertificateNegotiationNotSupported, "ERROR_NOT_SUPPORTED", std::nullopt},
    {0x80070005, "E_ACCESSDENIED", std::nullopt},
    {0x00000000, "", std::nullopt},
}};

// nginx's own 400 pages (ssl_verify_client on / optional).
constexpr std::string_view kNginxNoCertificate = "No required SSL certificate was sent";
constexpr std::string_view kNginxCertificateError = "The SSL certificate error";
// Apache mod_ssl's 403 when it wanted TLS 1.3 post-handshake authentication and the client did
// not offer it ("Reason: Cannot perform Post-Handshake Authentication.").
constexpr std::string_view kApachePostHandshakeAuth = "Cannot perform Post-Handshake Authentication";

// An IIS heading is short; one without its closing tag is not read beyond this.
constexpr std::size_t kMaxHeadingText = 512;
// Between "Error Code" and its value IIS writes a tag pair and three &nbsp;.
constexpr std::size_t kMaxErrorCodeGap = 64;

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

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_hex_digit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool starts_with_case_insensitive(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (lower(text[i]) != lower(prefix[i])) return false;
    }
    return true;
}

// "403.16" in `text` -> 16: the status, a dot and one to four digits, not part of a longer number.
std::optional<int> substatus_in(std::string_view text, std::string_view status) {
    const std::string marker = std::string(status) + ".";
    for (std::size_t at = text.find(marker); at != std::string_view::npos; at = text.find(marker, at + 1)) {
        if (at > 0 && (is_digit(text[at - 1]) || text[at - 1] == '.')) continue;  // 1403.7, 1.403.7
        std::size_t digit = at + marker.size();
        int value = 0;
        std::size_t digits = 0;
        while (digit < text.size() && is_digit(text[digit]) && digits < 5) {
            value = value * 10 + (text[digit] - '0');
            ++digit;
            ++digits;
        }
        if (digits > 0 && digits <= 4) return value;
    }
    return std::nullopt;
}

// The element's name when `at` starts an opening tag of <title> or <h1>..<h6>, else empty.
std::string_view heading_tag_at(std::string_view body, std::size_t at) {
    const std::string_view rest = body.substr(at + 1);
    std::string_view name;
    if (starts_with_case_insensitive(rest, "title")) name = rest.substr(0, 5);
    else if (rest.size() >= 2 && lower(rest[0]) == 'h' && rest[1] >= '1' && rest[1] <= '6') name = rest.substr(0, 2);
    else return {};
    const char after = name.size() < rest.size() ? rest[name.size()] : '\0';
    return after == '>' || after == ' ' || after == '\t' || after == '\r' || after == '\n' ? name : std::string_view{};
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
bool server_refused(const ProbeObservation& observation, ProbeClass probe_class) {
    if (observation.status) return probe_class != ProbeClass::healthy;
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

std::string_view to_string(ClassRule rule) noexcept {
    switch (rule) {
    case ClassRule::expected_status: return "expected_status";
    case ClassRule::transport_failure: return "transport_failure";
    case ClassRule::tls_alert: return "tls_alert";
    case ClassRule::iis_win32_status: return "iis_win32_status";
    case ClassRule::iis_substatus: return "iis_substatus";
    case ClassRule::nginx_no_certificate: return "nginx_no_certificate";
    case ClassRule::nginx_certificate_error: return "nginx_certificate_error";
    case ClassRule::apache_post_handshake_auth: return "apache_post_handshake_auth";
    case ClassRule::issuer_not_listed: return "issuer_not_listed";
    case ClassRule::rejection_pattern: return "rejection_pattern";
    case ClassRule::rejection_phrase: return "rejection_phrase";
    case ClassRule::tls13_per_path_certificate: return "tls13_per_path_certificate";
    case ClassRule::own_certificate_outside_validity: return "own_certificate_outside_validity";
    case ClassRule::other_status: return "other_status";
    }
    return "other_status";
}

std::string IisWin32Status::text() const {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string text = "0x";
    for (int shift = 28; shift >= 0; shift -= 4) text += kHex[(code >> shift) & 0xF];
    if (!name.empty()) text += " " + std::string(name);
    return text;
}

std::optional<int> find_iis_substatus(int status, std::string_view body) {
    const std::string status_text = std::to_string(status);
    body = body.substr(0, std::min(body.size(), RejectionPattern::kSearchedBytes));
    // Each element's text is read once, from its opening tag to its closing tag: linear.
    for (std::size_t at = body.find('<'); at != std::string_view::npos; at = body.find('<', at + 1)) {
        const std::string_view tag = heading_tag_at(body, at);
        if (tag.empty()) continue;
        const std::size_t text_start = body.find('>', at);
        if (text_start == std::string_view::npos) break;
        const std::string_view text = body.substr(text_start + 1, kMaxHeadingText);
        const std::size_t text_end = text.find("</");
        if (auto found = substatus_in(text.substr(0, text_end), status_text)) return found;
        at = text_start + (text_end == std::string_view::npos ? 0 : text_end);
    }
    return std::nullopt;
}

std::optional<IisWin32Status> find_iis_win32_status(std::string_view body) {
    constexpr std::string_view label = "Error Code";
    body = body.substr(0, std::min(body.size(), RejectionPattern::kSearchedBytes));
    for (std::size_t at = body.find(label); at != std::string_view::npos; at = body.find(label, at + 1)) {
        // Skip what IIS writes between the label and the value: "</th><td>&nbsp;&nbsp;&nbsp;", or ": ".
        std::size_t value = at + label.size();
        const std::size_t gap_end = std::min(body.size(), value + kMaxErrorCodeGap);
        while (value < gap_end) {
            const std::string_view rest = body.substr(value);
            if (rest[0] == '<') {
                const std::size_t close = rest.find('>');
                if (close == std::string_view::npos) break;
                value += close + 1;
            } else if (rest.substr(0, 6) == "&nbsp;") {
                value += 6;
            } else if (rest[0] == ' ' || rest[0] == ':' || rest[0] == '\t' || rest[0] == '\r' || rest[0] == '\n') {
                ++value;
            } else {
                break;
            }
        }
        const std::string_view rest = body.substr(std::min(value, body.size()));
        if (rest.size() < 10 || rest[0] != '0' || lower(rest[1]) != 'x') continue;
        if (!std::all_of(rest.begin() + 2, rest.begin() + 10, is_hex_digit)) continue;
        if (rest.size() > 10 && is_hex_digit(rest[10])) continue;
        std::uint32_t code = 0;
        for (std::size_t i = 2; i < 10; ++i) {
            const char digit = lower(rest[i]);
            code = (code << 4) | static_cast<std::uint32_t>(is_digit(digit) ? digit - '0' : digit - 'a' + 10);
        }
        IisWin32Status status{code, {}};
        for (const auto& row : kWin32Statuses) {
            if (row.code == code) status.name = row.name;
        }
        return status;
    }
    return std::nullopt;
}

std::optional<ProbeClass> certificate_class_of_win32_status(std::uint32_t code) noexcept {
    for (const auto& row : kWin32Statuses) {
        if (row.code == code) return row.probe_class;
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

namespace {

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

// The rows of the table for an answer whose status the site does not expect, in order; the
// first that applies decides.
void classify_unexpected_answer(const ProbeObservation& observation, const SiteRules& rules, Classification& result) {
    const int status = *observation.status;
    const std::string_view body = std::string_view(observation.body).substr(0, RejectionPattern::kSearchedBytes);
    const auto decide = [&](ProbeClass probe_class, ClassRule rule) {
        result.probe_class = probe_class;
        result.rule = rule;
    };

    // IIS detailed errors: the Windows error code tells the causes of one 403.16 or 403.13 apart.
    if (result.iis_win32_status) {
        const std::uint32_t code = result.iis_win32_status->code;
        if (status == 403) {
            if (auto probe_class = certificate_class_of_win32_status(code)) return decide(*probe_class, ClassRule::iis_win32_status);
        }
        if (status == 500 && code == kIisCertificateNegotiationNotSupported && observation.tls13) {
            result.retry_with_tls12 = true;
            return decide(ProbeClass::unexpected_status, ClassRule::tls13_per_path_certificate);
        }
    }
    if (status == 403 && result.iis_substatus) {
        switch (*result.iis_substatus) {
        case kIisClientCertificateRequired:
        case kIisClientCertificateUntrusted:
            return decide(ProbeClass::client_cert_rejected, ClassRule::iis_substatus);
        case kIisClientCertificateRevoked:
        case kIisClientCertificateExpired:
            return decide(ProbeClass::client_cert_invalid, ClassRule::iis_substatus);
        default:
            break;  // 403.14, 403.18, 403.70...: not about certificates
        }
    }
    if (status == 400 && contains(body, kNginxNoCertificate)) {
        return decide(ProbeClass::client_cert_rejected, ClassRule::nginx_no_certificate);
    }
    if (status == 400 && contains(body, kNginxCertificateError)) {
        // A server that names certheal's issuer trusts it, and still refused this certificate
        // (revoked, wrong usage): no re-sync cures that.
        return decide(observation.client_issuer_listed == true ? ProbeClass::client_cert_invalid
                                                               : ProbeClass::client_cert_rejected,
                      ClassRule::nginx_certificate_error);
    }
    if (status == 403 && contains(body, kApachePostHandshakeAuth)) {
        return decide(ProbeClass::unexpected_status, ClassRule::apache_post_handshake_auth);
    }
    if ((status == 400 || status == 401 || status == 403) && observation.client_issuer_listed == false) {
        return decide(ProbeClass::client_cert_rejected, ClassRule::issuer_not_listed);
    }
    const auto& pattern = rules.rejection_pattern ? *rules.rejection_pattern : *RejectionPattern::default_pattern();
    switch (pattern.search(body)) {
    case RejectionPattern::Outcome::found:
        return decide(ProbeClass::client_cert_rejected, ClassRule::rejection_pattern);
    case RejectionPattern::Outcome::over_limit:
        result.pattern_over_limit = true;
        break;
    case RejectionPattern::Outcome::not_found:
        break;
    }
    if (status == 403 && contains_case_insensitive(body, kRejectionPhrase)) {
        return decide(ProbeClass::client_cert_rejected, ClassRule::rejection_phrase);
    }
    decide(ProbeClass::unexpected_status, ClassRule::other_status);
}

// IIS on TLS 1.3 with a certificate required only on some paths (Windows Server 2022): it cannot
// renegotiate, so it resets the connection right after the request, without having sent a
// CertificateRequest.
bool tls13_reset_after_request(const ProbeObservation& observation) {
    return observation.tls13 && observation.request_sent && !observation.status &&
           !observation.server_requested_client_cert && observation.phase == ProbePhase::response &&
           (observation.failure == TransportFailure::reset || observation.failure == TransportFailure::closed);
}

}  // namespace

Classification classify(const ProbeObservation& observation, const SiteRules& rules) {
    Classification result;
    if (!observation.status) {
        result.probe_class = classify_transport_failure(observation);
        result.rule = observation.failure == TransportFailure::tls_alert &&
                              certificate_class_of_alert(observation.tls_alert.value_or(""),
                                                         observation.server_requested_client_cert)
                          ? ClassRule::tls_alert
                          : ClassRule::transport_failure;
        if (tls13_reset_after_request(observation)) {
            result.rule = ClassRule::tls13_per_path_certificate;
            result.retry_with_tls12 = true;
        }
    } else {
        // A status line was read: the answer decides, even if the body was cut short.
        const int status = *observation.status;
        result.iis_substatus = find_iis_substatus(status, observation.body);
        result.iis_win32_status = find_iis_win32_status(observation.body);
        if (std::find(rules.expect_status.begin(), rules.expect_status.end(), status) != rules.expect_status.end()) {
            result.probe_class = ProbeClass::healthy;
            result.rule = ClassRule::expected_status;
        } else {
            classify_unexpected_answer(observation, rules, result);
        }
    }
    // An expired certificate explains any refusal of it better than the refusal itself, and no
    // re-sync of the server's trust would cure it. A healthy answer stays healthy (users get
    // in), and a site that is down or silent is not refusing a certificate.
    if (observation.client_cert_outside_validity && server_refused(observation, result.probe_class)) {
        result.probe_class = ProbeClass::client_cert_invalid;
        result.rule = ClassRule::own_certificate_outside_validity;
        result.retry_with_tls12 = false;
    }
    return result;
}

}  // namespace certheal
