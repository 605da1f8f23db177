#pragma once
// The outcome of one HTTPS probe: what the classifier decided and the evidence for it.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace certheal {

enum class ProbeClass {
    healthy,
    client_cert_rejected,  // the server's client-certificate trust is out of sync: a re-sync cures it
    client_cert_invalid,   // certheal's certificate itself is bad (expired, revoked): only renewal cures it
    connect_failed,
    timeout,
    tls_error,
    unexpected_status,
    // The server cannot check whether certheal's certificate is revoked (IIS 403.13 with
    // 0x80092012/0x80092013: the CRL or OCSP server is out of its reach): network or proxy
    // work cures it, neither a re-sync nor a restart does.
    revocation_unavailable,
    // The site asks for the certificate after the request, which TLS 1.3 cannot do (IIS resets
    // the connection or answers 500.0 0x80070032) and TLS 1.2 does by renegotiation: a
    // binding setting cures it.
    client_cert_negotiation_unsupported,
};

inline constexpr ProbeClass kAllProbeClasses[] = {
    ProbeClass::healthy,         ProbeClass::client_cert_rejected, ProbeClass::client_cert_invalid,
    ProbeClass::connect_failed,  ProbeClass::timeout,              ProbeClass::tls_error,
    ProbeClass::unexpected_status, ProbeClass::revocation_unavailable,
    ProbeClass::client_cert_negotiation_unsupported,
};

std::string_view to_string(ProbeClass probe_class) noexcept;
std::optional<ProbeClass> probe_class_from_string(std::string_view text) noexcept;

// Milliseconds spent in each phase; a phase that was never reached stays empty.
struct PhaseTimings {
    std::optional<double> resolve_ms;
    std::optional<double> connect_ms;
    std::optional<double> tls_ms;
    std::optional<double> response_ms;
    double total_ms = 0.0;
};

// The client certificate a probe presented (or had ready, when the server asked for none).
struct PresentedCertificate {
    std::string sha1;     // thumbprint, upper-case hex
    std::string subject;  // RFC 2253
    std::chrono::system_clock::time_point not_before;
    std::chrono::system_clock::time_point not_after;
};

struct ProbeResult {
    std::string site;
    std::string url;
    ProbeClass probe_class = ProbeClass::connect_failed;
    std::optional<int> status;              // HTTP status from the status line
    std::optional<int> iis_substatus;       // e.g. 7 for 403.7, 16 for 403.16, from an IIS error page's heading
    // The "Error Code" of an IIS detailed error page with its name when certheal knows it,
    // e.g. "0x800B0109 CERT_E_UNTRUSTEDROOT".
    std::optional<std::string> iis_win32_status;
    std::optional<std::string> tls_alert;   // OpenSSL's alert name, e.g. "unknown_ca"
    // The CA names of the server's CertificateRequest (RFC 2253, in the server's order): empty
    // when it asked with an empty list, unset when it asked for no certificate.
    std::optional<std::vector<std::string>> client_ca_names;
    // Whether the issuer of certheal's client certificate is among client_ca_names; unset when
    // the list is empty or absent, or no client certificate is configured.
    std::optional<bool> client_issuer_listed;
    std::optional<std::string> error;       // sentence describing the failure, if any
    PhaseTimings timings;
    // The notAfter of the certificate the server presented, when the handshake got that far
    // (for certificate_expiring and the expiry metric: a server certificate that lapses breaks
    // the site as surely as a lost trust).
    std::optional<std::chrono::system_clock::time_point> server_cert_not_after;
    // certheal's own client certificate at this probe: for a store client_cert the one the store
    // selected this time (a renewal shows here first: client_cert_changed, the expiry metric).
    std::optional<PresentedCertificate> client_cert;
};

// The pattern that recognises IIS's "HTTP Error 403.7" in a 403's body when a site names none.
inline constexpr std::string_view kDefaultRejectionPattern = "403\\.7";

// The probe's evidence as it goes into events and `probe --json`: class, status,
// iis_substatus, iis_win32_status, tls_alert, client_ca_names, client_issuer_listed, error, url and timings_ms
// (null where they don't apply). `with_site` adds "site" first, for `probe --json`; events
// carry the site in their own field.
nlohmann::json probe_evidence(const ProbeResult& result, bool with_site = false);

}  // namespace certheal
