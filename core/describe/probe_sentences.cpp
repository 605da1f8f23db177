#include "core/describe/probe_sentences.hpp"

#include <algorithm>

#include "core/base/text.hpp"

namespace certheal {
namespace {

// The CA names of a CertificateRequest said in a sentence; the rest are counted.
constexpr std::size_t kCaNamesInSentence = 5;

std::string milliseconds_text(Duration duration) { return std::to_string(duration.count()) + " ms"; }

// "HOST (PEER)": the site's host and where the probe reached it.
std::string host_and_peer(const ProbeSubject& subject) { return subject.host + " (" + subject.peer + ")"; }

std::string exchange_context(const ProbeSubject& subject, ExchangeStep step) {
    switch (step) {
    case ExchangeStep::handshake: return "TLS handshake with " + host_and_peer(subject) + " failed";
    case ExchangeStep::sending_request: return "Sending the request to " + host_and_peer(subject) + " failed";
    case ExchangeStep::reading_answer: break;
    }
    return "Reading the answer of " + host_and_peer(subject) + " failed";
}

std::string exchange_reason(const ExchangeFailureFacts& facts) {
    switch (facts.failure) {
    case ExchangeFailure::client_cert_invalid_alert:
        return "the server refused the client certificate itself (alert " + facts.alert +
               "); renew certheal's client certificate";
    case ExchangeFailure::client_cert_rejected_alert: {
        std::string reason = "the server rejected the client certificate (alert " + facts.alert + ")";
        if (!facts.client_cert_configured) reason += "; no client certificate is configured";
        return reason;
    }
    case ExchangeFailure::other_alert: return "the server sent the alert " + facts.alert;
    case ExchangeFailure::server_cert_not_accepted:
        return std::string("the server certificate was not accepted: ") + facts.detail +
               ". Check the site's ca_file and the URL's host name";
    case ExchangeFailure::closed: return "the server closed the connection";
    case ExchangeFailure::not_http:
        return "the server sent something that is not a valid HTTP answer (" + facts.detail +
               "); check that the URL names the site's HTTPS port and path";
    case ExchangeFailure::not_tls:
        return "the server does not speak TLS on this port (its first bytes are not a TLS record: " + facts.detail +
               "); another service, such as SSH or plain HTTP, may answer there. Check the URL's port";
    case ExchangeFailure::other: break;
    }
    return facts.detail;
}

// The sentence of a page certheal recognises by its words; empty for any other page.
std::optional<std::string> page_sentence(const std::string& answered, const AnswerFacts& facts) {
    switch (facts.page) {
    case AnswerPage::nginx_no_certificate:
        return answered + " \"No required SSL certificate was sent\": the server requires a client certificate and " +
               (facts.client_cert_configured ? "did not get one that it asked for. Check the server's "
                                               "client-certificate trust."
                                             : "none is configured for this site in certheal.");
    case AnswerPage::nginx_certificate_error:
        if (facts.probe_class == ProbeClass::client_cert_invalid) {
            return answered + " \"The SSL certificate error\" although it names certheal's issuer (" + facts.own_issuer +
                   ") among the CAs it accepts: the server trusts that CA and still refused this certificate "
                   "(revoked, or not meant for client authentication); no re-sync of the server's trust cures "
                   "that. Check the client certificate and the server's CRL.";
        }
        return answered + " \"The SSL certificate error\": the server did not accept the client certificate. Check "
                          "the server's client-certificate trust (nginx: ssl_client_certificate).";
    case AnswerPage::apache_post_handshake_auth:
        return answered + " \"Cannot perform Post-Handshake Authentication\": the server (Apache) asks for the "
                          "client certificate after the request by TLS 1.3 post-handshake authentication, which "
                          "certheal offers; something between certheal and the server (a proxy or load balancer "
                          "that ends TLS) did not pass the offer on. This says nothing about the server's trust. "
                          "Have the server ask for the certificate in the handshake (SSLVerifyClient require for "
                          "the whole virtual host), or let that hop speak TLS 1.2.";
    case AnswerPage::tls13_per_path_certificate:
        return answered + ": IIS would have to ask a TLS 1.3 client for its certificate after the request, "
                          "which it cannot do.";
    case AnswerPage::other: break;
    }
    return std::nullopt;
}

}  // namespace

std::string probe_cancelled_sentence(std::string_view site) {
    return "The probe of " + std::string(site) + " was cancelled because certheal is stopping.";
}

std::string setup_failure_sentence(const ProbeSubject& subject, std::string what) {
    return "Could not prepare the probe of " + subject.site + ": " + as_clause(std::move(what)) + ".";
}

std::string resolve_failure_sentence(const ProbeSubject& subject, std::string_view reason) {
    return "Resolving " + subject.dialed + " for site " + subject.site + " failed: " + std::string(reason) +
           ". Check the name and the DNS server.";
}

std::string connect_failure_sentence(const ProbeSubject& subject, std::string_view reason) {
    return "Connecting to " + host_and_peer(subject) + " failed: " + std::string(reason) +
           ". Check that the site's web server is running and listening.";
}

std::string too_many_interim_answers_sentence(const ProbeSubject& subject, int most) {
    return "Reading the answer of " + host_and_peer(subject) + " failed: the server sent more than " +
           std::to_string(most) + " interim (1xx) answers and no final one.";
}

std::string interruption_sentence(const ProbeSubject& subject, const InterruptionFacts& facts) {
    if (facts.cancelled) return probe_cancelled_sentence(subject.site);
    std::string waiting_for;
    switch (facts.waiting_for) {
    case ProbeWait::resolving: waiting_for = "resolving " + subject.dialed; break;
    case ProbeWait::connecting: waiting_for = "connecting to " + host_and_peer(subject); break;
    case ProbeWait::handshake: waiting_for = "the TLS handshake with " + host_and_peer(subject); break;
    case ProbeWait::answer: waiting_for = "the answer of " + host_and_peer(subject); break;
    }
    return "The probe of " + subject.site + " timed out after " + milliseconds_text(facts.elapsed) + " waiting for " +
           waiting_for + " (site timeout " + milliseconds_text(facts.site_timeout) + ").";
}

std::string exchange_failure_sentence(const ProbeSubject& subject, const ExchangeFailureFacts& facts) {
    std::string reason = exchange_reason(facts);
    // A key that signs where it lives may have refused to sign, or may not sign everything
    // TLS can ask for: say so.
    if (facts.signing_refusal) reason += ". " + as_clause(*facts.signing_refusal);
    if (!facts.key_limitation.empty()) reason += ". " + as_clause(facts.key_limitation);
    return exchange_context(subject, facts.step) + ": " + reason + ".";
}

std::string status_sentence(const ProbeSubject& subject, const AnswerFacts& facts) {
    std::string answer = std::to_string(facts.status);
    if (facts.iis_substatus) answer += "." + std::to_string(*facts.iis_substatus);
    if (facts.iis_win32_status) answer += " (Error Code " + *facts.iis_win32_status + ")";
    const std::string answered = host_and_peer(subject) + " answered " + answer;
    if (auto sentence = page_sentence(answered, facts)) return std::move(*sentence);
    switch (facts.probe_class) {
    case ProbeClass::client_cert_rejected:
        return answered + ": the server did not accept the client certificate. Check the server's "
                          "client-certificate trust.";
    case ProbeClass::client_cert_invalid:
        return answered + ": the server refused certheal's client certificate itself (expired, not yet valid or "
                          "revoked); no re-sync of the server's trust cures that. Renew the client certificate.";
    case ProbeClass::revocation_unavailable:
        return answered + ": the server could not check whether certheal's client certificate is revoked, because "
                          "it cannot reach the CRL or OCSP server of the certificate's CA (IIS checks as "
                          "LocalSystem, through the WinHTTP proxy). Restarting IIS or re-syncing the trust does "
                          "not help: let the host reach the CRL distribution point or OCSP responder (network, "
                          "firewall, `netsh winhttp show proxy`), or import the CA's current CRL on the host "
                          "(certutil -addstore CA FILE.crl).";
    default:
        break;
    }
    const std::string expected = join(facts.expect_status, ", ", [](int status) { return std::to_string(status); });
    return answered + " where " + expected + " was expected.";
}

std::string issuer_not_listed_sentence(std::span<const std::string> names, std::size_t omitted,
                                       std::string_view own_issuer) {
    const std::size_t shown = std::min(names.size(), kCaNamesInSentence);
    std::string accepted = join(names.first(shown), "; ");
    if (const std::size_t more = names.size() - shown + omitted; more > 0) {
        accepted += " (and " + std::to_string(more) + " more)";
    }
    return "The server accepts client certificates issued by " + accepted + " only, but certheal's certificate "
           "was issued by " + std::string(own_issuer) + ": the server's client-certificate trust is out of sync with the CA "
           "that issues your clients' certificates.";
}

std::string pattern_over_limit_sentence(std::string_view site, std::string_view pattern,
                                        std::string_view over_limit_clause) {
    return "The rejection_pattern of site " + std::string(site) + " (\"" + std::string(pattern) +
           "\") was given up on this page: " + std::string(over_limit_clause) +
           ", so certheal counted it as not found. Simplify the pattern (fewer overlapping alternatives, no long "
           "counted repeats such as .{0,200}); certheal says this once per pattern.";
}

std::string own_certificate_expired_sentence(const OwnCertificate& certificate, std::string_view not_after) {
    return "certheal's client certificate for site " + certificate.site + " (" + certificate.subject + ", issued by " +
           certificate.issuer + ")" + " expired on " + std::string(not_after) +
           ", so the server cannot accept it and no re-sync of the server's trust will help. Renew the "
           "certificate and point the site's client_cert at the new one.";
}

std::string own_certificate_not_yet_valid_sentence(const OwnCertificate& certificate, std::string_view not_before) {
    return "certheal's client certificate for site " + certificate.site + " (" + certificate.subject + ", issued by " +
           certificate.issuer + ")" + " is not valid before " + std::string(not_before) +
           ", so the server cannot accept it yet. Check the host's clock, or use a certificate that is "
           "valid now.";
}

std::string tls13_failure_clause(std::optional<int> status, std::optional<int> iis_substatus,
                                 const std::optional<std::string>& iis_win32_status) {
    if (status) {
        std::string answer = std::to_string(*status);
        if (iis_substatus) answer += "." + std::to_string(*iis_substatus);
        if (iis_win32_status) answer += " with " + *iis_win32_status;
        return "it answered " + answer + " (Windows Server 2025 and later)";
    }
    return "it reset the connection right after the request (Windows Server 2022)";
}

std::string negotiation_unsupported_sentence(const ProbeSubject& subject, std::string_view on_tls13,
                                             std::optional<int> tls12_status) {
    const std::string tls12_answer = tls12_status ? std::to_string(*tls12_status) : std::string("a healthy answer");
    return "Site " + subject.site + " (" + subject.host + ", " + subject.peer +
           ") asks for the client certificate only after the request, which TLS 1.3 cannot do: over TLS 1.3 " +
           std::string(on_tls13) + ", while over TLS 1.2 it asked for the certificate by renegotiation and answered " +
           tls12_answer +
           ". Browsers and other TLS 1.3 clients fail on this site; restarting IIS or re-syncing the trust does "
           "not help. Fix the binding: enable \"Negotiate Client Certificate\" on it (netsh http update sslcert "
           "... clientcertnegotiation=enable) so that the certificate is asked for in the handshake, or disable "
           "TLS 1.3 on it (disabletls13=enable).";
}

std::string tls13_fails_first_note(std::string_view on_tls13) {
    return " Over TLS 1.3 the site fails before that: " + std::string(on_tls13) +
           ", because it asks for the client certificate only after the request.";
}

std::string tls12_retry_no_further_note(ProbeClass second_class, const std::optional<std::string>& second_error) {
    return " A second probe limited to TLS 1.2 did not get further (" + std::string(to_string(second_class)) +
           (second_error ? ": " + as_clause(*second_error) : std::string()) + ").";
}

}  // namespace certheal
