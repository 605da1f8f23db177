#pragma once
// The sentences a probe writes: why it could not start, where the connection failed, why it was
// cut short, what the server's answer means and what to do about it. The probe session finds the
// facts (core/probe/probe_session); the words are here, once, so they can be read and tested
// without a network.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/clock.hpp"
#include "core/model/probe_result.hpp"

namespace certheal {

// Whom one probe is about.
struct ProbeSubject {
    std::string site;    // the site's name
    std::string host;    // the URL's host
    std::string dialed;  // the name resolved: connect_to, else the URL's host
    std::string peer;    // "name:port", and once connected the address reached
};

// "The probe of SITE was cancelled because certheal is stopping."
std::string probe_cancelled_sentence(std::string_view site);

// certheal could not set the probe up (TLS settings, server name); `what` says why.
std::string setup_failure_sentence(const ProbeSubject& subject, std::string what);

std::string resolve_failure_sentence(const ProbeSubject& subject, std::string_view reason);
std::string connect_failure_sentence(const ProbeSubject& subject, std::string_view reason);

// The server kept sending 1xx answers and no final one.
std::string too_many_interim_answers_sentence(const ProbeSubject& subject, int most);

// What the probe was waiting for when the deadline passed.
enum class ProbeWait { resolving, connecting, handshake, answer };

struct InterruptionFacts {
    bool cancelled = false;  // certheal is stopping; otherwise the deadline passed
    ProbeWait waiting_for = ProbeWait::answer;
    Duration elapsed{};       // since the probe really started
    Duration site_timeout{};  // the site's overall timeout
};

// Why the probe ended early: certheal is stopping, or the deadline passed.
std::string interruption_sentence(const ProbeSubject& subject, const InterruptionFacts& facts);

// Where, after the connection was made, the exchange failed.
enum class ExchangeStep { handshake, sending_request, reading_answer };

// How it failed, as far as the words differ.
enum class ExchangeFailure {
    client_cert_invalid_alert,   // an alert saying certheal's certificate itself is bad
    client_cert_rejected_alert,  // an alert saying the certificate (or its CA) is not accepted
    other_alert,
    server_cert_not_accepted,  // certheal did not accept the server's certificate
    closed,                    // the server closed the connection
    not_http,                  // an answer that is not HTTP
    not_tls,                   // the server's first bytes are no TLS record
    other,
};

struct ExchangeFailureFacts {
    ExchangeStep step = ExchangeStep::handshake;
    ExchangeFailure failure = ExchangeFailure::other;
    std::string alert;   // the alert's name, for the alert failures
    std::string detail;  // the verification error (server_cert_not_accepted) or the error's message
    bool client_cert_configured = false;
    // A key that signs where it lives: why it refused to sign, and what it cannot sign.
    std::optional<std::string> signing_refusal;
    std::string key_limitation;
};

std::string exchange_failure_sentence(const ProbeSubject& subject, const ExchangeFailureFacts& facts);

// Which page the server answered with, as far as the words differ.
enum class AnswerPage {
    other,
    nginx_no_certificate,         // nginx 400 "No required SSL certificate was sent"
    nginx_certificate_error,      // nginx 400 "The SSL certificate error"
    apache_post_handshake_auth,   // Apache 403 "Cannot perform Post-Handshake Authentication"
    tls13_per_path_certificate,   // IIS on TLS 1.3 asking for the certificate after the request
};

struct AnswerFacts {
    int status = 0;
    std::optional<int> iis_substatus;
    std::optional<std::string> iis_win32_status;  // "0x800B0109 CERT_E_UNTRUSTEDROOT"
    AnswerPage page = AnswerPage::other;
    ProbeClass probe_class = ProbeClass::unexpected_status;
    bool client_cert_configured = false;
    std::string own_issuer;  // the issuer of certheal's client certificate
    std::vector<int> expect_status;
};

// What an answer that is not healthy means and what to check.
std::string status_sentence(const ProbeSubject& subject, const AnswerFacts& facts);

// The server's CertificateRequest named CAs, and certheal's issuer was not among them. `names`:
// those kept; `omitted`: how many more the server named.
std::string issuer_not_listed_sentence(std::span<const std::string> names, std::size_t omitted,
                                       std::string_view own_issuer);

// The site's rejection_pattern gave up on a page; `over_limit_clause` says why.
std::string pattern_over_limit_sentence(std::string_view site, std::string_view pattern,
                                        std::string_view over_limit_clause);

// certheal's own client certificate is outside its dates.
struct OwnCertificate {
    std::string site;
    std::string subject;
    std::string issuer;
};
std::string own_certificate_expired_sentence(const OwnCertificate& certificate, std::string_view not_after);
std::string own_certificate_not_yet_valid_sentence(const OwnCertificate& certificate, std::string_view not_before);

// What a probe over TLS 1.3 met at an IIS that asks for the certificate after the request, as a
// clause: its answer, or the reset of older Windows.
std::string tls13_failure_clause(std::optional<int> status, std::optional<int> iis_substatus,
                                 const std::optional<std::string>& iis_win32_status);

// The site works over TLS 1.2 by renegotiation only (class client_cert_negotiation_unsupported).
// `tls12_status`: what it answered over TLS 1.2.
std::string negotiation_unsupported_sentence(const ProbeSubject& subject, std::string_view on_tls13,
                                             std::optional<int> tls12_status);

// Added to the TLS 1.2 probe's certificate sentence: TLS 1.3 fails before that.
std::string tls13_fails_first_note(std::string_view on_tls13);

// Added to the first probe's sentence when the TLS 1.2 probe did not get further.
std::string tls12_retry_no_further_note(ProbeClass second_class, const std::optional<std::string>& second_error);

}  // namespace certheal
