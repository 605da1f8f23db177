#pragma once
// The outcome of one HTTPS probe: what the classifier decided and the evidence for it.

#include <optional>
#include <string>
#include <string_view>

namespace certheal {

enum class ProbeClass {
    healthy,
    client_cert_rejected,
    connect_failed,
    timeout,
    tls_error,
    unexpected_status,
};

std::string_view to_string(ProbeClass cls) noexcept;
std::optional<ProbeClass> probe_class_from_string(std::string_view text) noexcept;

// Milliseconds spent in each phase; a phase that was never reached stays empty.
struct PhaseTimings {
    std::optional<double> resolve_ms;
    std::optional<double> connect_ms;
    std::optional<double> tls_ms;
    std::optional<double> response_ms;
    double total_ms = 0.0;
};

struct ProbeResult {
    std::string site;
    std::string url;
    ProbeClass cls = ProbeClass::connect_failed;
    std::optional<int> status;              // HTTP status from the status line
    std::optional<int> iis_substatus;       // e.g. 7 for 403.7, 16 for 403.16, found in the body
    std::optional<std::string> tls_alert;   // OpenSSL's alert name, e.g. "unknown_ca"
    std::optional<std::string> error;       // sentence describing the failure, if any
    PhaseTimings timings;
};

}  // namespace certheal
