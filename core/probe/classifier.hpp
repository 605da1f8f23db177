#pragma once
// Deciding what one probe means. A pure function of what the prober observed and the
// site's rules, so every row of DESIGN.md's table can be tested without a network.

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
    // certheal's own client certificate was expired or not yet valid when it was presented:
    // then no answer of the server can be cured by re-syncing its trust.
    bool client_cert_outside_validity = false;
    std::optional<int> status;                  // set once the status line was read
    std::string body;                           // what was read of the body (capped)
};

struct SiteRules {
    std::vector<int> expect_status{200};
    // Searched in a 403's body; null: the default pattern (403.7).
    std::shared_ptr<const RejectionPattern> rejection_pattern = nullptr;
};

struct Classification {
    ProbeClass cls = ProbeClass::connect_failed;
    std::optional<int> iis_substatus;  // 7 for "HTTP Error 403.7", found in a 403's body
};

Classification classify(const ProbeObservation& observation, const SiteRules& rules);

// The IIS sub-status in a 403 body ("HTTP Error 403.16" -> 16); empty when there is none.
std::optional<int> find_iis_substatus(std::string_view body);

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
