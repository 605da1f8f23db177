#pragma once
// Deciding what one probe means. A function of what the prober observed and the site's rules
// only, so every row of the classification table (docs/classification.md) can be tested
// without a network.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/probe_result.hpp"
#include "core/probe/rejection_pattern.hpp"

namespace certheal {

// Where a probe stopped. `response` covers the request write and the response read.
enum class ProbePhase { resolve, connect, tls, response };

std::string_view to_string(ProbePhase phase) noexcept;

// How a transport-level failure looked, already mapped from the platform's error codes
// by the prober so the classifier stays free of OS and OpenSSL details.
enum class TransportFailure {
    none,                 // no transport failure: a status line was read
    timed_out,            // a phase deadline passed
    name_not_resolved,    // DNS gave no address
    refused,              // nobody listens on the port
    reset,                // the peer reset the connection
    unreachable,          // no route to the network or host
    closed,               // the peer closed the connection without a TLS alert
    tls_alert,            // the peer sent a fatal TLS alert (see tls_alert)
    server_cert_invalid,  // certheal rejected the server's certificate (chain, name, dates)
    tls_protocol,         // any other TLS failure (version, cipher, malformed record)
    http_protocol,        // after the handshake, an answer that is not valid HTTP (garbage, oversized header)
    local_setup,          // certheal could not set up TLS (unreadable client certificate, CA file)
    other,
};

struct ProbeObservation {
    ProbePhase phase = ProbePhase::response;  // the phase that failed, or the last one reached
    TransportFailure failure = TransportFailure::none;
    std::optional<std::string> tls_alert;  // alert name received from the peer, e.g. "unknown_ca"
    bool client_cert_configured = false;
    bool server_requested_client_cert = false;  // a CertificateRequest was seen in a handshake
    // Whether the issuer of certheal's certificate is among the CA names of the server's
    // CertificateRequest; unset when the list was empty or absent, or no certificate is configured.
    std::optional<bool> client_issuer_listed;
    // certheal's own client certificate was expired or not yet valid when it was presented:
    // then no answer of the server can be cured by re-syncing its trust.
    bool client_cert_outside_validity = false;
    bool tls13 = false;         // the connection was TLS 1.3
    bool request_sent = false;  // the whole request went out
    std::optional<int> status;  // the final answer's status (1xx interim answers are skipped)
    std::string body;           // what was read of the body (capped)
};

struct SiteRules {
    std::vector<int> expect_status{200};
    // Searched in the body of any answer whose status is not expected; null: the default
    // pattern (403.7).
    std::shared_ptr<const RejectionPattern> rejection_pattern = nullptr;
};

// Which row of the classification table (docs/classification.md) decided. The prober words its
// sentence after it.
enum class ClassRule {
    expected_status,                 // healthy
    transport_failure,               // how the connection ended, without an answer
    tls_alert,                       // a fatal alert about the client certificate
    iis_win32_status,                // the "Error Code" line of an IIS detailed error page
    iis_substatus,                   // 403.7/.13/.16/.17 in an IIS error page's title or heading
    nginx_no_certificate,            // nginx 400 "No required SSL certificate was sent"
    nginx_certificate_error,         // nginx 400 "The SSL certificate error"
    apache_post_handshake_auth,      // Apache 403 "Cannot perform Post-Handshake Authentication"
    issuer_not_listed,               // 400/401/403 from a server whose CA list lacks certheal's issuer
    rejection_pattern,               // the site's rejection_pattern (default 403\.7) in the body
    rejection_phrase,                // "client certificate required" in a 403
    tls13_per_path_certificate,      // IIS on TLS 1.3 asking for the certificate after the request
    own_certificate_outside_validity,  // certheal's certificate expired or not yet valid
    other_status,                    // none of the above
};

std::string_view to_string(ClassRule rule) noexcept;

// A Windows error code as IIS shows it in its detailed error page ("Error Code 0x800b0109").
struct IisWin32Status {
    std::uint32_t code = 0;
    std::string_view name;  // "CERT_E_UNTRUSTEDROOT"; empty when certheal does not know the code

    // "0x800B0109 CERT_E_UNTRUSTEDROOT" (or just "0x800B0109").
    std::string text() const;
    bool operator==(const IisWin32Status&) const = default;
};

struct Classification {
    ProbeClass probe_class = ProbeClass::connect_failed;
    ClassRule rule = ClassRule::transport_failure;
    std::optional<int> iis_substatus;  // 16 for "HTTP Error 403.16" in an IIS error page's heading
    std::optional<IisWin32Status> iis_win32_status;
    // The rejection_pattern gave up on this page (see RejectionPattern): counted as not found.
    bool pattern_over_limit = false;
    // IIS on TLS 1.3 could not ask for the certificate after the request (a reset right after it,
    // or 500.0 with 0x80070032): only a probe on TLS 1.2 tells whether the site works by
    // renegotiation (then the class is client_cert_negotiation_unsupported).
    bool retry_with_tls12 = false;
};

Classification classify(const ProbeObservation& observation, const SiteRules& rules);

// The IIS sub-status of a `status` answer ("HTTP Error 403.16" -> 16), read only where IIS
// writes it: in the page's <title> or an <h1>..<h6> heading. Empty when there is none.
std::optional<int> find_iis_substatus(int status, std::string_view body);

// The "Error Code 0x........" of an IIS detailed error page; empty when there is none.
std::optional<IisWin32Status> find_iis_win32_status(std::string_view body);

// What an IIS error code says about the client certificate (client_cert_rejected,
// client_cert_invalid, revocation_unavailable); empty for any other code.
std::optional<ProbeClass> certificate_class_of_win32_status(std::uint32_t code) noexcept;

// 0x80070032, HRESULT_FROM_WIN32(ERROR_NOT_SUPPORTED): what IIS on Windows Server 2025 answers
// (500.0) when it would have to ask a TLS 1.3 client for its certificate after the request.
inline constexpr std::uint32_t kIisCertificateNegotiationNotSupported = 0x80070032;

// What a fatal TLS alert from the server says about the client certificate:
// client_cert_rejected for "your certificate (or its CA) is not accepted here" (a trust
// re-sync cures it), client_cert_invalid for "your certificate expired / was revoked",
// empty when the alert is about something else. handshake_failure only counts once the
// server asked for a certificate, because on its own it also covers cipher and version
// mismatches.
std::optional<ProbeClass> certificate_class_of_alert(std::string_view alert, bool server_requested_client_cert) noexcept;

// The name of a TLS alert description code (RFC 8446 section 6), e.g. 48 -> "unknown_ca".
std::string tls_alert_name(int alert_code);

}  // namespace certheal
