#include "core/probe/probe_session.hpp"

#include <algorithm>
#include <chrono>
#include <sstream>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/beast/version.hpp>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/probe/certificate_info.hpp"

namespace certheal {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

double milliseconds_between(SteadyClock::time_point from, SteadyClock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

std::string strip_brackets(std::string host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
    return host;
}

std::string host_header(const SiteConfig& site) {
    const std::string host = strip_brackets(site.host);
    std::string value = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (site.port != 443) value += ":" + std::to_string(site.port);
    return value;
}

// An answer's header section beyond this is not a web server's: read no further.
constexpr std::size_t kHeaderLimit = std::size_t{64} * 1024;

// Interim answers (100 Continue, 103 Early Hints) skipped before the final one; a server that
// sends more is not answering.
constexpr int kMaxInterimAnswers = 16;

}  // namespace

ProbeSession::ProbeSession(asio::io_context& io, const SiteConfig& site, std::shared_ptr<const RejectionPattern> pattern,
                           const ProberOptions& options, const Clock* wall_clock, std::function<void(ProbeResult)> done,
                           bool tls12_retry)
    : io_(io),
      site_(site),
      options_(options),
      wall_clock_(wall_clock),
      pattern_(std::move(pattern)),
      resolver_(io),
      timer_(io),
      done_(std::move(done)),
      tls12_retry_(tls12_retry) {
    result_.site = site.name;
    result_.url = site.url;
    observation_.client_cert_configured = site.tls.client_cert.has_value();
    peer_ = site.connect_to.value_or(site.host) + ":" + std::to_string(site.port);
}

void ProbeSession::start(Result<ClientTlsContext> context) {
    if (finished_) return;
    if (!context) {
        const std::string& message = context.error().message;
        if (context.error().code == client_identity_unavailable()) {
            if (!clock_started_) begin_clock();
            identity_unavailable_ = true;
            finish(message);
            return;
        }
        fail_setup(message.empty() ? std::string("the TLS settings could not be loaded") : message);
        return;
    }
    context_ = std::move(context.value().context);
    identity_ = std::move(context.value().client_identity);
    begin_clock();
    if (cancelled_) {
        finish(interruption_sentence());
        return;
    }
    if (!prepare_stream()) return;
    begin_phase(ProbePhase::resolve, options_.resolve_limit);
    resolver_.async_resolve(strip_brackets(site_.connect_to.value_or(site_.host)), std::to_string(site_.port),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        const tcp::resolver::results_type& results) {
                                self->on_resolved(ec, results);
                            });
}

// The TLS stream with the site's server name and what its certificate must say; false when
// that could not be set (the probe is then finished).
bool ProbeSession::prepare_stream() {
    stream_.emplace(io_, *context_);
    SSL* ssl = stream_->native_handle();
    if (tls12_retry_ && SSL_set_max_proto_version(ssl, TLS1_2_VERSION) != 1) {
        fail_setup("could not limit the probe to TLS 1.2: " + openssl_error_text());
        return false;
    }
    SSL_set_msg_callback(ssl, trace_tls_message);
    SSL_set_msg_callback_arg(ssl, &trace_);
    const std::string host = strip_brackets(site_.host);
    const bool ip_host = is_ip_literal(host);
    // SNI carries the URL's host (never connect_to); RFC 6066 forbids IP addresses there.
    // SSL_set_tlsext_host_name without its macro's C cast.
    if (!ip_host && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                             const_cast<char*>(host.c_str())) != 1) {
        fail_setup("could not set the TLS server name " + host + ": " + openssl_error_text());
        return false;
    }
    if (site_.tls.verify) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        const int set = ip_host ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                                : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
        if (set != 1) {
            fail_setup("could not set the expected server name " + host + ": " + openssl_error_text());
            return false;
        }
    }
    return true;
}

void ProbeSession::fail_setup(std::string what) {
    if (finished_) return;
    if (!clock_started_) begin_clock();
    observation_.phase = ProbePhase::tls;
    observation_.failure = TransportFailure::local_setup;
    finish(setup_failure_sentence(subject(), std::move(what)));
}

void ProbeSession::cancel() {
    if (auto retry = retry_.lock()) {  // this attempt is over; its TLS 1.2 retry is not
        retry->cancel();
        return;
    }
    if (finished_) return;
    cancelled_ = true;
    if (stream_ || phase_generation_ > 0) finish(interruption_sentence());
}

// The timeout and the timings count from here, when the probe really starts, not from
// when it was asked for and waited for a slot.
void ProbeSession::begin_clock() {
    clock_started_ = true;
    started_ = SteadyClock::now();
    deadline_ = started_ + site_.timeout;
}

void ProbeSession::begin_phase(ProbePhase phase, std::optional<Duration> limit) {
    observation_.phase = phase;
    phase_started_ = SteadyClock::now();
    auto phase_deadline = deadline_;
    if (limit) phase_deadline = std::min(phase_deadline, phase_started_ + *limit);
    ++phase_generation_;
    timer_.expires_at(phase_deadline);
    timer_.async_wait([self = shared_from_this(), generation = phase_generation_](const boost::system::error_code& ec) {
        // A timer re-armed for the next phase must not end that phase.
        if (ec || generation != self->phase_generation_ || self->finished_) return;
        self->on_deadline();
    });
}

void ProbeSession::on_deadline() {
    timed_out_ = true;
    const double elapsed = end_phase();
    switch (observation_.phase) {
    case ProbePhase::resolve: result_.timings.resolve_ms = elapsed; break;
    case ProbePhase::connect: result_.timings.connect_ms = elapsed; break;
    case ProbePhase::tls: result_.timings.tls_ms = elapsed; break;
    case ProbePhase::response: result_.timings.response_ms = elapsed; break;
    }
    finish(interruption_sentence());
}

double ProbeSession::end_phase() { return milliseconds_between(phase_started_, SteadyClock::now()); }

void ProbeSession::abort_io() {
    boost::system::error_code ignored;
    resolver_.cancel();
    if (stream_) stream_->next_layer().close(ignored);
}

void ProbeSession::on_resolved(const boost::system::error_code& ec, const tcp::resolver::results_type& results) {
    if (finished_) return;
    result_.timings.resolve_ms = end_phase();
    if (ec || results.empty()) {
        if (!interrupted()) observation_.failure = TransportFailure::name_not_resolved;
        finish(interrupted() ? interruption_sentence()
                             : resolve_failure_sentence(subject(), ec ? ec.message() : std::string("no address")));
        return;
    }
    begin_phase(ProbePhase::connect, options_.connect_limit);
    asio::async_connect(stream_->next_layer(), results,
                        [self = shared_from_this()](const boost::system::error_code& error, const tcp::endpoint& endpoint) {
                            self->on_connected(error, endpoint);
                        });
}

void ProbeSession::on_connected(const boost::system::error_code& ec, const tcp::endpoint& endpoint) {
    if (finished_) return;
    result_.timings.connect_ms = end_phase();
    if (!ec) {
        std::ostringstream address;
        address << endpoint;
        peer_ = address.str();
    }
    if (ec) {
        if (!interrupted()) observation_.failure = transport_failure(ec, trace_, observation_.tls_alert);
        finish(interrupted() ? interruption_sentence() : connect_failure_sentence(subject(), ec.message()));
        return;
    }
    begin_phase(ProbePhase::tls, options_.tls_limit);
    stream_->async_handshake(ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& error) {
        self->on_handshake(error);
    });
}

void ProbeSession::on_handshake(const boost::system::error_code& ec) {
    if (finished_) return;
    result_.timings.tls_ms = end_phase();
    if (ec) {
        finish_with_exchange_failure(ec, ExchangeStep::handshake);
        return;
    }
    if (const X509* server_certificate = SSL_get0_peer_certificate(stream_->native_handle())) {
        result_.server_cert_not_after = not_after(*server_certificate);
    }
    begin_phase(ProbePhase::response, options_.response_limit);
    request_.method(http::verb::get);
    request_.target(site_.target.empty() ? "/" : site_.target);
    request_.version(11);
    request_.set(http::field::host, host_header(site_));
    request_.set(http::field::user_agent, std::string("certheal/") + CERTHEAL_VERSION);
    request_.set(http::field::accept, "*/*");
    request_.set(http::field::connection, "close");
    http::async_write(*stream_, request_, [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
        self->on_written(error);
    });
}

void ProbeSession::on_written(const boost::system::error_code& ec) {
    if (finished_) return;
    if (ec) {
        if (!interrupted() && !trace_.received_alert) {
            read_alert_after_failed_write(ec);
            return;
        }
        result_.timings.response_ms = end_phase();
        finish_with_exchange_failure(ec, ExchangeStep::sending_request);
        return;
    }
    trace_.request_sent = true;
    observation_.request_sent = true;
    read_header();
}

void ProbeSession::read_header() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // The body is read in chunks and kept up to body_limit, whatever its Content-Length says:
    // Beast's own body limit would refuse a long page outright and leave nothing to classify.
    parser_->body_limit(boost::none);
    http::async_read_header(*stream_, buffer_, *parser_,
                            [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
                                self->on_header(error);
                            });
}

// TLS 1.3 servers refuse a certificate after the handshake: their alert may already wait
// in the socket while the request's write failed on the closed connection. Read it; it says
// more than "broken pipe".
void ProbeSession::read_alert_after_failed_write(const boost::system::error_code& write_error) {
    stream_->async_read_some(asio::buffer(drain_), [self = shared_from_this(), write_error](
                                                       const boost::system::error_code& error, std::size_t) {
        if (self->finished_) return;
        self->result_.timings.response_ms = self->end_phase();
        const bool alert_read =
            self->trace_.received_alert || (error.category() == asio::error::get_ssl_category() &&
                                            is_alert_reason(ERR_GET_REASON(static_cast<unsigned long>(error.value()))));
        self->finish_with_exchange_failure(alert_read ? error : write_error, ExchangeStep::sending_request);
    });
}

void ProbeSession::on_header(const boost::system::error_code& ec) {
    if (finished_) return;
    if (ec) {
        result_.timings.response_ms = end_phase();
        finish_with_exchange_failure(ec, ExchangeStep::reading_answer);
        return;
    }
    const int status = static_cast<int>(parser_->get().result_int());
    // 100 Continue, 103 Early Hints: interim answers, the final one follows on the same
    // connection (RFC 9110 section 15.2). 101 would switch protocols, which certheal never
    // asks for: it is the answer.
    if (status >= 100 && status < 200 && status != 101) {
        if (++interim_answers_ > kMaxInterimAnswers) {
            result_.timings.response_ms = end_phase();
            observation_.failure = TransportFailure::http_protocol;
            finish(too_many_interim_answers_sentence(subject(), kMaxInterimAnswers));
            return;
        }
        read_header();
        return;
    }
    observation_.status = status;
    read_body_chunk();
}

void ProbeSession::read_body_chunk() {
    if (parser_->is_done() || observation_.body.size() >= options_.body_limit) {
        answer_read();
        return;
    }
    parser_->get().body().data = chunk_.data();
    parser_->get().body().size = chunk_.size();
    http::async_read(*stream_, buffer_, *parser_, [self = shared_from_this()](boost::system::error_code error, std::size_t) {
        self->on_body_chunk(error);
    });
}

void ProbeSession::on_body_chunk(boost::system::error_code ec) {
    if (finished_) return;
    const std::size_t received = chunk_.size() - parser_->get().body().size;
    const std::size_t room = options_.body_limit - std::min(options_.body_limit, observation_.body.size());
    observation_.body.append(chunk_.data(), std::min(received, room));
    if (ec == http::error::need_buffer) ec = {};  // the chunk is full: read on
    if (ec) {
        // The status line is what matters: a body cut short by an unclean close or a broken
        // chunk does not change the answer.
        answer_read();
        return;
    }
    read_body_chunk();
}

void ProbeSession::answer_read() {
    result_.timings.response_ms = end_phase();
    finish({});
}

bool ProbeSession::interrupted() const noexcept { return timed_out_ || cancelled_; }

void ProbeSession::finish(std::string error) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    abort_io();
    // However the last operation came back, an interrupted probe is classified as one.
    if (interrupted()) observation_.failure = TransportFailure::timed_out;
    observation_.server_requested_client_cert = trace_.certificate_requested;
    if (stream_) {
        SSL* ssl = stream_->native_handle();
        SSL_set_msg_callback_arg(ssl, nullptr);
        record_client_certificate_evidence(ssl);
        observation_.client_issuer_listed = result_.client_issuer_listed;
        observation_.tls13 = SSL_is_init_finished(ssl) == 1 && SSL_version(ssl) == TLS1_3_VERSION;
    }
    classify_and_word(std::move(error));
    result_.timings.total_ms = milliseconds_between(started_, SteadyClock::now());
    // The parser, the buffers and the stream stay until the last pending handler has run and
    // released the session: an async_read still in flight may parse into them after a
    // deadline ended the probe (freeing them here was the 3000-site crash).
    observation_.body.clear();
    observation_.body.shrink_to_fit();
    if (classification_.retry_with_tls12 && !tls12_retry_ && !cancelled_ && start_tls12_retry()) return;
    auto done = std::move(done_);
    done(std::move(result_));
}

// IIS on TLS 1.3 could not ask for the certificate after the request: the same probe once
// more on TLS 1.2, within what is left of the site's timeout, tells whether the site works
// by renegotiation. Its result and this one become one.
bool ProbeSession::start_tls12_retry() {
    const auto left = std::chrono::duration_cast<Duration>(deadline_ - SteadyClock::now());
    if (left <= Duration::zero()) return false;
    SiteConfig retry_site = site_;
    retry_site.timeout = left;
    auto retry = std::make_shared<ProbeSession>(io_, retry_site, pattern_, options_, wall_clock_, nullptr, true);
    retry->done_ = [self = shared_from_this(), raw = retry.get()](ProbeResult second) {
        self->finish_after_retry(std::move(second), raw->trace_.certificate_requested_after_request);
    };
    retry_ = retry;
    retry->start(ClientTlsContext{context_, identity_});
    return true;
}

void ProbeSession::finish_after_retry(ProbeResult second, bool asked_by_renegotiation) {
    ProbeResult merged = std::move(result_);
    std::optional<std::string> win32_status;
    if (classification_.iis_win32_status) win32_status = classification_.iis_win32_status->text();
    const std::string on_tls13 = tls13_failure_clause(observation_.status, classification_.iis_substatus, win32_status);
    const bool certificate_class = second.probe_class == ProbeClass::client_cert_rejected ||
                                   second.probe_class == ProbeClass::client_cert_invalid ||
                                   second.probe_class == ProbeClass::revocation_unavailable;
    if (asked_by_renegotiation && second.probe_class == ProbeClass::healthy) {
        merged.probe_class = ProbeClass::client_cert_negotiation_unsupported;
        merged.client_ca_names = second.client_ca_names;
        merged.client_issuer_listed = second.client_issuer_listed;
        merged.error = negotiation_unsupported_sentence(subject(), on_tls13, second.status);
    } else if (asked_by_renegotiation && certificate_class) {
        // The certificate problem comes first: TLS 1.2 clients meet it too.
        const std::string note = tls13_fails_first_note(on_tls13);
        merged = std::move(second);
        merged.error = merged.error.value_or("") + note;
    } else {
        merged.error = merged.error.value_or("") + tls12_retry_no_further_note(second.probe_class, second.error);
    }
    merged.timings.total_ms = milliseconds_between(started_, SteadyClock::now());
    auto done = std::move(done_);
    done(std::move(merged));
}

}  // namespace certheal
