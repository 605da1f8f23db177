#include "core/probe/probe_session.hpp"

// The probe session's facts for the sentences it writes: what it observed, put in the words of
// core/describe/probe_sentences, and the class the classifier gives it.

#include <chrono>
#include <utility>

#include "core/probe/client_certificate_evidence.hpp"

namespace certheal {
namespace {

ProbeWait wait_of(ProbePhase phase) {
    switch (phase) {
    case ProbePhase::resolve: return ProbeWait::resolving;
    case ProbePhase::connect: return ProbeWait::connecting;
    case ProbePhase::tls: return ProbeWait::handshake;
    case ProbePhase::response: break;
    }
    return ProbeWait::answer;
}

AnswerPage page_of(ClassRule rule) {
    switch (rule) {
    case ClassRule::nginx_no_certificate: return AnswerPage::nginx_no_certificate;
    case ClassRule::nginx_certificate_error: return AnswerPage::nginx_certificate_error;
    case ClassRule::apache_post_handshake_auth: return AnswerPage::apache_post_handshake_auth;
    case ClassRule::tls13_per_path_certificate: return AnswerPage::tls13_per_path_certificate;
    default: return AnswerPage::other;
    }
}

// How the exchange failed, as far as the sentence differs.
ExchangeFailure exchange_failure_of(const ProbeObservation& observation, const HandshakeTrace& trace,
                                    const boost::system::error_code& ec) {
    switch (observation.failure) {
    case TransportFailure::tls_alert: {
        const ProbeClass certificate_class =
            certificate_class_of_alert(observation.tls_alert.value_or("unknown"), trace.certificate_requested)
                .value_or(ProbeClass::tls_error);
        if (certificate_class == ProbeClass::client_cert_invalid) return ExchangeFailure::client_cert_invalid_alert;
        if (certificate_class == ProbeClass::client_cert_rejected) return ExchangeFailure::client_cert_rejected_alert;
        return ExchangeFailure::other_alert;
    }
    case TransportFailure::server_cert_invalid: return ExchangeFailure::server_cert_not_accepted;
    case TransportFailure::closed: return ExchangeFailure::closed;
    case TransportFailure::http_protocol: return ExchangeFailure::not_http;
    case TransportFailure::tls_protocol: return not_tls(ec) ? ExchangeFailure::not_tls : ExchangeFailure::other;
    default: return ExchangeFailure::other;
    }
}

}  // namespace

void ProbeSession::finish_with_exchange_failure(const boost::system::error_code& ec, ExchangeStep step) {
    if (interrupted()) {
        finish(interruption_sentence());
        return;
    }
    observation_.failure = transport_failure(ec, trace_, observation_.tls_alert);
    ExchangeFailureFacts facts;
    facts.step = step;
    facts.failure = exchange_failure_of(observation_, trace_, ec);
    facts.alert = observation_.tls_alert.value_or("unknown");
    facts.detail = facts.failure == ExchangeFailure::server_cert_not_accepted
                       ? X509_verify_cert_error_string(SSL_get_verify_result(stream_->native_handle()))
                       : ec.message();
    facts.client_cert_configured = observation_.client_cert_configured;
    if (identity_ && identity_->key_home) {
        const KeyHome& home = *identity_->key_home;
        if (home.last_signing_failure) facts.signing_refusal = home.last_signing_failure();
        facts.key_limitation = home.limitation;
    }
    finish(exchange_failure_sentence(subject(), facts));
}

ProbeSubject ProbeSession::subject() const {
    return ProbeSubject{site_.name, site_.host, site_.connect_to.value_or(site_.host), peer_};
}

std::string ProbeSession::interruption_sentence() const {
    InterruptionFacts facts;
    facts.cancelled = cancelled_;
    facts.waiting_for = wait_of(observation_.phase);
    facts.elapsed = std::chrono::duration_cast<Duration>(SteadyClock::now() - started_);
    facts.site_timeout = site_.timeout;
    return certheal::interruption_sentence(subject(), facts);
}

std::string ProbeSession::status_sentence() const {
    AnswerFacts facts;
    facts.status = *result_.status;
    facts.iis_substatus = result_.iis_substatus;
    facts.iis_win32_status = result_.iis_win32_status;
    facts.page = page_of(classification_.rule);
    facts.probe_class = result_.probe_class;
    facts.client_cert_configured = observation_.client_cert_configured;
    facts.own_issuer = own_issuer_;
    facts.expect_status = site_.expect_status;
    return certheal::status_sentence(subject(), facts);
}

// Where certheal's certificate dates are held against. The prober's owner gives its Clock
// (AsioClock::wall_now is safe on any thread); without one, the system's wall clock.
TimePoint ProbeSession::wall_now() const {
    return wall_clock_ != nullptr ? wall_clock_->wall_now() : std::chrono::system_clock::now();
}

void ProbeSession::record_client_certificate_evidence(SSL* ssl) {
    auto evidence = client_certificate_evidence(ssl, trace_.certificate_requested, site_.name, wall_now());
    result_.client_cert = std::move(evidence.presented);
    own_issuer_ = std::move(evidence.issuer);
    own_certificate_problem_ = std::move(evidence.problem);
    observation_.client_cert_outside_validity = own_certificate_problem_.has_value();
    if (evidence.ca_names) {
        result_.client_issuer_listed = evidence.issuer_listed;
        omitted_ca_names_ = evidence.omitted_ca_names;
        result_.client_ca_names = std::move(evidence.ca_names);
    }
}

// The class from what was observed, and the sentence for it.
void ProbeSession::classify_and_word(std::string error) {
    const SiteRules rules{site_.expect_status, pattern_};
    classification_ = classify(observation_, rules);
    result_.probe_class = identity_unavailable_ ? ProbeClass::client_cert_invalid : classification_.probe_class;
    result_.iis_substatus = classification_.iis_substatus;
    if (classification_.iis_win32_status) result_.iis_win32_status = classification_.iis_win32_status->text();
    result_.status = observation_.status;
    result_.tls_alert = observation_.tls_alert;
    if (result_.probe_class == ProbeClass::client_cert_invalid && own_certificate_problem_) {
        // The certificate itself says why, whatever the server answered.
        result_.error = *own_certificate_problem_;
    } else if (!error.empty()) {
        result_.error = std::move(error);
    } else if (result_.probe_class != ProbeClass::healthy && result_.status) {
        result_.error = status_sentence();
    }
    if (result_.probe_class != ProbeClass::healthy && result_.client_issuer_listed == false && result_.error) {
        *result_.error += " " + issuer_not_listed_sentence(*result_.client_ca_names, omitted_ca_names_, own_issuer_);
    }
    if (classification_.pattern_over_limit && pattern_ && pattern_->claim_over_limit_report() && result_.error) {
        *result_.error += " " + pattern_over_limit_sentence(site_.name, pattern_->text(),
                                                            RejectionPattern::over_limit_clause());
    }
}

}  // namespace certheal
