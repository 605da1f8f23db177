#include "core/probe/https_prober.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <thread>
#include <chrono>
#include <ctime>
#include <memory>
#include <filesystem>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/model/config_model.hpp"
#include "core/probe/tls_files.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/probe/classifier.hpp"
#include "core/base/text.hpp"
#include "core/probe/tls_contexts.hpp"

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

std::string milliseconds_text(Duration duration) { return std::to_string(duration.count()) + " ms"; }

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

bool is_alert_reason(int reason) noexcept { return reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256; }

// What OpenSSL says when the peer's first bytes are no TLS record at all.
bool not_tls(const boost::system::error_code& ec) {
    if (ec.category() != asio::error::get_ssl_category()) return false;
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    return reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
           reason == SSL_R_RECORD_LENGTH_MISMATCH || reason == SSL_R_UNKNOWN_PROTOCOL ||
           reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST;
}

constexpr std::size_t kMaxCaNamesKept = 64;
constexpr std::size_t kMaxCaNameLength = 256;
constexpr std::size_t kCaNamesInSentence = 5;

std::string bounded(std::string text, std::size_t limit) {
    if (text.size() > limit) text = text.substr(0, limit) + "...";
    return text;
}

// What the OpenSSL message callback saw on the connection.
struct HandshakeTrace {
    bool certificate_requested = false;
    // A CertificateRequest after the request went out: by a TLS 1.2 renegotiation or TLS 1.3
    // post-handshake authentication (a site that asks only on some paths).
    bool certificate_requested_after_request = false;
    bool request_sent = false;
    std::optional<int> received_alert;
};

void trace_tls_message(int write_p, int /*version*/, int content_type, const void* buf, size_t len, SSL* /*ssl*/,
                       void* arg) {
    if (write_p != 0 || arg == nullptr || len == 0) return;
    auto* trace = static_cast<HandshakeTrace*>(arg);
    const auto* bytes = static_cast<const unsigned char*>(buf);
    if (content_type == SSL3_RT_HANDSHAKE && bytes[0] == SSL3_MT_CERTIFICATE_REQUEST) {
        trace->certificate_requested = true;
        if (trace->request_sent) trace->certificate_requested_after_request = true;
    } else if (content_type == SSL3_RT_ALERT && len >= 2 && bytes[1] != SSL_AD_CLOSE_NOTIFY) {
        trace->received_alert = bytes[1];
    }
}

PresentedCertificate presented_certificate(const X509& certificate) {
    return PresentedCertificate{sha1_thumbprint(certificate), subject_text(certificate), not_before(certificate),
                                not_after(certificate)};
}

// Interim answers (100 Continue, 103 Early Hints) skipped before the final one; a server that
// sends more is not answering.
constexpr int kMaxInterimAnswers = 16;

class ProbeSession : public std::enable_shared_from_this<ProbeSession> {
public:
    // `tls12_retry`: the second probe of a site that failed on TLS 1.3 in the way of an IIS that
    // asks for the certificate after the request; it offers TLS 1.2 at most.
    ProbeSession(asio::io_context& io, const SiteConfig& site, std::shared_ptr<const RejectionPattern> pattern,
                 const ProberOptions& options, std::function<void(ProbeResult)> done, bool tls12_retry = false)
        : io_(io),
          site_(site),
          options_(options),
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

    // Starts with the TLS context of the site's settings, or ends at once when there is none: a
    // store client certificate that cannot be had is certheal's own certificate problem
    // (client_cert_invalid), anything else a local set-up failure.
    void start(Result<ClientTlsContext> context) {
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
        stream_.emplace(io_, *context_);
        SSL* ssl = stream_->native_handle();
        if (tls12_retry_ && SSL_set_max_proto_version(ssl, TLS1_2_VERSION) != 1) {
            fail_setup("could not limit the probe to TLS 1.2: " + openssl_error_text());
            return;
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
            return;
        }
        if (site_.tls.verify) {
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            const int set = ip_host ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                                    : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
            if (set != 1) {
                fail_setup("could not set the expected server name " + host + ": " + openssl_error_text());
                return;
            }
        }
        begin_phase(ProbePhase::resolve, options_.resolve_limit);
        resolver_.async_resolve(strip_brackets(site_.connect_to.value_or(site_.host)), std::to_string(site_.port),
                                [self = shared_from_this()](const boost::system::error_code& ec,
                                                            const tcp::resolver::results_type& results) {
                                    self->on_resolved(ec, results);
                                });
    }

    void fail_setup(std::string what) {
        if (finished_) return;
        if (!clock_started_) begin_clock();
        observation_.phase = ProbePhase::tls;
        observation_.failure = TransportFailure::local_setup;
        finish("Could not prepare the probe of " + site_.name + ": " + as_clause(std::move(what)) + ".");
    }

    // Finishes at once; the operations still pending come back aborted and find the
    // session finished. (A resolver blocked in getaddrinfo cannot be interrupted, so
    // waiting for it would overrun the deadline.)
    void cancel() {
        if (auto retry = retry_.lock()) {  // this attempt is over; its TLS 1.2 retry is not
            retry->cancel();
            return;
        }
        if (finished_) return;
        cancelled_ = true;
        if (stream_ || phase_generation_ > 0) finish(interruption_sentence());
    }

private:
    // The timeout and the timings count from here, when the probe really starts, not from
    // when it was asked for and waited for a slot.
    void begin_clock() {
        clock_started_ = true;
        started_ = SteadyClock::now();
        deadline_ = started_ + site_.timeout;
    }

    void begin_phase(ProbePhase phase, std::optional<Duration> limit) {
        observation_.phase = phase;
        phase_started_ = SteadyClock::now();
        auto phase_deadline = deadline_;
        if (limit) phase_deadline = std::min(phase_deadline, phase_started_ + *limit);
        ++phase_generation_;
        timer_.expires_at(phase_deadline);
        timer_.async_wait([self = shared_from_this(), generation = phase_generation_](
                              const boost::system::error_code& ec) {
            // A timer re-armed for the next phase must not end that phase.
            if (ec || generation != self->phase_generation_ || self->finished_) return;
            self->on_deadline();
        });
    }

    void on_deadline() {
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

    double end_phase() { return milliseconds_between(phase_started_, SteadyClock::now()); }

    void abort_io() {
        boost::system::error_code ignored;
        resolver_.cancel();
        if (stream_) stream_->next_layer().close(ignored);
    }

    void on_resolved(const boost::system::error_code& ec, const tcp::resolver::results_type& results) {
        if (finished_) return;
        result_.timings.resolve_ms = end_phase();
        if (ec || results.empty()) {
            if (!interrupted()) observation_.failure = TransportFailure::name_not_resolved;
            finish(interrupted() ? interruption_sentence()
                                 : "Resolving " + site_.connect_to.value_or(site_.host) + " for site " + site_.name +
                                       " failed: " + (ec ? ec.message() : std::string("no address")) +
                                       ". Check the name and the DNS server.");
            return;
        }
        begin_phase(ProbePhase::connect, options_.connect_limit);
        asio::async_connect(stream_->next_layer(), results,
                            [self = shared_from_this()](const boost::system::error_code& error, const tcp::endpoint& endpoint) {
                                self->on_connected(error, endpoint);
                            });
    }

    void on_connected(const boost::system::error_code& ec, const tcp::endpoint& endpoint) {
        if (finished_) return;
        result_.timings.connect_ms = end_phase();
        if (!ec) {
            std::ostringstream address;
            address << endpoint;
            peer_ = address.str();
        }
        if (ec) {
            if (!interrupted()) observation_.failure = transport_failure(ec);
            finish(interrupted() ? interruption_sentence()
                                 : "Connecting to " + site_.host + " (" + peer_ + ") failed: " + ec.message() +
                                       ". Check that the site's web server is running and listening.");
            return;
        }
        begin_phase(ProbePhase::tls, options_.tls_limit);
        stream_->async_handshake(ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& error) {
            self->on_handshake(error);
        });
    }

    void on_handshake(const boost::system::error_code& ec) {
        if (finished_) return;
        result_.timings.tls_ms = end_phase();
        if (ec) {
            finish_with_tls_failure(ec, "TLS handshake with " + site_.host + " (" + peer_ + ") failed");
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

    void on_written(const boost::system::error_code& ec) {
        if (finished_) return;
        if (ec) {
            if (!interrupted() && !trace_.received_alert) {
                read_alert_after_failed_write(ec);
                return;
            }
            result_.timings.response_ms = end_phase();
            finish_with_tls_failure(ec, "Sending the request to " + site_.host + " (" + peer_ + ") failed");
            return;
        }
        trace_.request_sent = true;
        observation_.request_sent = true;
        read_header();
    }

    void read_header() {
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
    void read_alert_after_failed_write(const boost::system::error_code& write_error) {
        stream_->async_read_some(asio::buffer(drain_), [self = shared_from_this(), write_error](
                                                           const boost::system::error_code& error, std::size_t) {
            if (self->finished_) return;
            self->result_.timings.response_ms = self->end_phase();
            const bool alert_read =
                self->trace_.received_alert || (error.category() == asio::error::get_ssl_category() &&
                                                is_alert_reason(ERR_GET_REASON(static_cast<unsigned long>(error.value()))));
            self->finish_with_tls_failure(alert_read ? error : write_error,
                                          "Sending the request to " + self->site_.host + " (" + self->peer_ + ") failed");
        });
    }

    void on_header(const boost::system::error_code& ec) {
        if (finished_) return;
        if (ec) {
            result_.timings.response_ms = end_phase();
            finish_with_tls_failure(ec, "Reading the answer of " + site_.host + " (" + peer_ + ") failed");
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
                finish("Reading the answer of " + site_.host + " (" + peer_ + ") failed: the server sent more than " +
                       std::to_string(kMaxInterimAnswers) + " interim (1xx) answers and no final one.");
                return;
            }
            read_header();
            return;
        }
        observation_.status = status;
        read_body_chunk();
    }

    void read_body_chunk() {
        if (parser_->is_done() || observation_.body.size() >= options_.body_limit) {
            answer_read();
            return;
        }
        parser_->get().body().data = chunk_.data();
        parser_->get().body().size = chunk_.size();
        http::async_read(*stream_, buffer_, *parser_,
                         [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                             self->on_body_chunk(error);
                         });
    }

    void on_body_chunk(boost::system::error_code ec) {
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

    void answer_read() {
        result_.timings.response_ms = end_phase();
        finish({});
    }

    void finish_with_tls_failure(const boost::system::error_code& ec, const std::string& context) {
        if (interrupted()) {
            finish(interruption_sentence());
            return;
        }
        observation_.failure = transport_failure(ec);
        std::string reason;
        if (observation_.failure == TransportFailure::tls_alert) {
            const std::string alert = observation_.tls_alert.value_or("unknown");
            const ProbeClass certificate_class =
                certificate_class_of_alert(alert, trace_.certificate_requested).value_or(ProbeClass::tls_error);
            if (certificate_class == ProbeClass::client_cert_invalid) {
                reason = "the server refused the client certificate itself (alert " + alert +
                         "); renew certheal's client certificate";
            } else if (certificate_class == ProbeClass::client_cert_rejected) {
                reason = "the server rejected the client certificate (alert " + alert + ")";
                if (!observation_.client_cert_configured) reason += "; no client certificate is configured";
            } else {
                reason = "the server sent the alert " + alert;
            }
        } else if (observation_.failure == TransportFailure::server_cert_invalid) {
            const long verify_result = SSL_get_verify_result(stream_->native_handle());
            reason = std::string("the server certificate was not accepted: ") +
                     X509_verify_cert_error_string(verify_result) + ". Check the site's ca_file and the URL's host name";
        } else if (observation_.failure == TransportFailure::closed) {
            reason = "the server closed the connection";
        } else if (observation_.failure == TransportFailure::http_protocol) {
            reason = "the server sent something that is not a valid HTTP answer (" + ec.message() +
                     "); check that the URL names the site's HTTPS port and path";
        } else if (observation_.failure == TransportFailure::tls_protocol && not_tls(ec)) {
            reason = "the server does not speak TLS on this port (its first bytes are not a TLS record: " +
                     ec.message() + "); another service, such as SSH or plain HTTP, may answer there. Check the URL's port";
        } else {
            reason = ec.message();
        }
        // A key that signs where it lives may have refused to sign, or may not sign everything
        // TLS can ask for: say so.
        if (identity_ && identity_->key_home) {
            const KeyHome& home = *identity_->key_home;
            if (home.last_signing_failure) {
                if (auto refused = home.last_signing_failure()) reason += ". " + as_clause(*refused);
            }
            if (!home.limitation.empty()) reason += ". " + as_clause(home.limitation);
        }
        finish(context + ": " + reason + ".");
    }

    TransportFailure transport_failure(const boost::system::error_code& ec) {
        namespace error = asio::error;
        if (ec.category() == error::get_ssl_category()) {
            const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
            if (is_alert_reason(reason)) {
                observation_.tls_alert = tls_alert_name(reason - SSL_AD_REASON_OFFSET);
                return TransportFailure::tls_alert;
            }
            if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) return TransportFailure::server_cert_invalid;
            if (trace_.received_alert) return alert_from_trace();
            if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) return TransportFailure::closed;
            return TransportFailure::tls_protocol;
        }
        // The alert may have arrived just before the connection dropped.
        if (trace_.received_alert) return alert_from_trace();
        if (ec == error::connection_refused) return TransportFailure::refused;
        if (ec == error::connection_reset || ec == error::connection_aborted || ec == error::broken_pipe) {
            return TransportFailure::reset;
        }
        if (ec == error::network_unreachable || ec == error::host_unreachable || ec == error::network_down) {
            return TransportFailure::unreachable;
        }
        if (ec == error::timed_out) return TransportFailure::timed_out;
        if (ec == error::eof || ec == ssl::error::stream_truncated || ec == http::error::end_of_stream ||
            ec == http::error::partial_message) {
            return TransportFailure::closed;
        }
        // Any other complaint of the HTTP parser: the server answered, but not in HTTP.
        if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
            return TransportFailure::http_protocol;
        }
        return TransportFailure::other;
    }

    TransportFailure alert_from_trace() {
        observation_.tls_alert = tls_alert_name(*trace_.received_alert);
        return TransportFailure::tls_alert;
    }

    bool interrupted() const noexcept { return timed_out_ || cancelled_; }

    // Why the probe ended early: certheal is stopping, or the deadline passed.
    std::string interruption_sentence() const {
        if (cancelled_) return "The probe of " + site_.name + " was cancelled because certheal is stopping.";
        const auto limit = std::chrono::duration_cast<Duration>(SteadyClock::now() - started_);
        std::string waiting_for;
        switch (observation_.phase) {
        case ProbePhase::resolve: waiting_for = "resolving " + site_.connect_to.value_or(site_.host); break;
        case ProbePhase::connect: waiting_for = "connecting to " + site_.host + " (" + peer_ + ")"; break;
        case ProbePhase::tls: waiting_for = "the TLS handshake with " + site_.host + " (" + peer_ + ")"; break;
        case ProbePhase::response: waiting_for = "the answer of " + site_.host + " (" + peer_ + ")"; break;
        }
        return "The probe of " + site_.name + " timed out after " + milliseconds_text(limit) + " waiting for " +
               waiting_for + " (site timeout " + milliseconds_text(site_.timeout) + ").";
    }

    void finish(std::string error) {
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
            *result_.error += " " + issuer_not_listed_sentence();
        }
        if (classification_.pattern_over_limit && pattern_ && pattern_->claim_over_limit_report() && result_.error) {
            *result_.error += " " + pattern_over_limit_sentence();
        }
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
    bool start_tls12_retry() {
        const auto left = std::chrono::duration_cast<Duration>(deadline_ - SteadyClock::now());
        if (left <= Duration::zero()) return false;
        SiteConfig retry_site = site_;
        retry_site.timeout = left;
        auto retry = std::make_shared<ProbeSession>(io_, retry_site, pattern_, options_, nullptr, true);
        retry->done_ = [self = shared_from_this(), raw = retry.get()](ProbeResult second) {
            self->finish_after_retry(std::move(second), raw->trace_.certificate_requested_after_request);
        };
        retry_ = retry;
        retry->start(ClientTlsContext{context_, identity_});
        return true;
    }

    void finish_after_retry(ProbeResult second, bool asked_by_renegotiation) {
        ProbeResult merged = std::move(result_);
        const std::string on_tls13 = tls13_failure_clause();
        const bool certificate_class = second.probe_class == ProbeClass::client_cert_rejected ||
                                       second.probe_class == ProbeClass::client_cert_invalid ||
                                       second.probe_class == ProbeClass::revocation_unavailable;
        if (asked_by_renegotiation && second.probe_class == ProbeClass::healthy) {
            merged.probe_class = ProbeClass::client_cert_negotiation_unsupported;
            merged.client_ca_names = second.client_ca_names;
            merged.client_issuer_listed = second.client_issuer_listed;
            merged.error = negotiation_unsupported_sentence(on_tls13, second);
        } else if (asked_by_renegotiation && certificate_class) {
            // The certificate problem comes first: TLS 1.2 clients meet it too.
            const std::string note = " Over TLS 1.3 the site fails before that: " + on_tls13 +
                                     ", because it asks for the client certificate only after the request.";
            merged = std::move(second);
            merged.error = merged.error.value_or("") + note;
        } else {
            merged.error = merged.error.value_or("") + " A second probe limited to TLS 1.2 did not get further (" +
                           std::string(to_string(second.probe_class)) +
                           (second.error ? ": " + as_clause(*second.error) : std::string()) + ").";
        }
        merged.timings.total_ms = milliseconds_between(started_, SteadyClock::now());
        auto done = std::move(done_);
        done(std::move(merged));
    }

    // What the TLS 1.3 attempt met, as a clause.
    std::string tls13_failure_clause() const {
        if (observation_.status) {
            std::string answer = std::to_string(*observation_.status);
            if (classification_.iis_substatus) answer += "." + std::to_string(*classification_.iis_substatus);
            if (classification_.iis_win32_status) answer += " with " + classification_.iis_win32_status->text();
            return "it answered " + answer + " (Windows Server 2025 and later)";
        }
        return "it reset the connection right after the request (Windows Server 2022)";
    }

    std::string negotiation_unsupported_sentence(const std::string& on_tls13, const ProbeResult& second) const {
        const std::string tls12_answer = second.status ? std::to_string(*second.status) : std::string("a healthy answer");
        return "Site " + site_.name + " (" + site_.host + ", " + peer_ +
               ") asks for the client certificate only after the request, which TLS 1.3 cannot do: over TLS 1.3 " +
               on_tls13 + ", while over TLS 1.2 it asked for the certificate by renegotiation and answered " +
               tls12_answer +
               ". Browsers and other TLS 1.3 clients fail on this site; restarting IIS or re-syncing the trust does "
               "not help. Fix the binding: enable \"Negotiate Client Certificate\" on it (netsh http update sslcert "
               "... clientcertnegotiation=enable) so that the certificate is asked for in the handshake, or disable "
               "TLS 1.3 on it (disabletls13=enable).";
    }

    std::string pattern_over_limit_sentence() const {
        return "The rejection_pattern of site " + site_.name + " (\"" + pattern_->text() + "\") was given up on this page: " +
               RejectionPattern::over_limit_clause() +
               ", so certheal counted it as not found. Simplify the pattern (fewer overlapping alternatives, no long "
               "counted repeats such as .{0,200}); certheal says this once per pattern.";
    }

    // The CA names the server asked for and whether certheal's issuer is among them (the
    // field report's mechanism), and whether certheal's own certificate is within its dates.
    void record_client_certificate_evidence(SSL* ssl) {
        X509* own = SSL_get_certificate(ssl);
        if (own != nullptr) {
            result_.client_cert = presented_certificate(*own);
            own_subject_ = name_text(X509_get_subject_name(own));
            own_issuer_ = name_text(X509_get_issuer_name(own));
            own_certificate_problem_ = validity_problem(*own);
            observation_.client_cert_outside_validity = own_certificate_problem_.has_value();
        }
        if (!trace_.certificate_requested) return;
        std::vector<std::string> names;
        bool issuer_listed = false;
        int listed_names = 0;
        if (const STACK_OF(X509_NAME)* requested = SSL_get_client_CA_list(ssl)) {
            listed_names = sk_X509_NAME_num(requested);
            for (int index = 0; index < listed_names; ++index) {
                const X509_NAME* name = sk_X509_NAME_value(requested, index);
                // A server that sends its whole trust list (IIS with SendTrustedIssuerList=1) may
                // name hundreds of CAs: keep the evidence bounded, but compare against all of them.
                if (names.size() < kMaxCaNamesKept) names.push_back(bounded(name_text(name), kMaxCaNameLength));
                if (own != nullptr && X509_NAME_cmp(name, X509_get_issuer_name(own)) == 0) issuer_listed = true;
            }
        }
        if (own != nullptr && listed_names > 0) result_.client_issuer_listed = issuer_listed;
        omitted_ca_names_ = static_cast<std::size_t>(listed_names) - names.size();
        result_.client_ca_names = std::move(names);
    }

    std::optional<std::string> validity_problem(const X509& certificate) const {
        auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
        const ASN1_TIME* not_before = X509_get0_notBefore(&certificate);
        const ASN1_TIME* not_after = X509_get0_notAfter(&certificate);
        const std::string which = "certheal's client certificate for site " + site_.name + " (" + own_subject_ +
                                  ", issued by " + own_issuer_ + ")";
        if (not_after != nullptr && X509_cmp_time(not_after, &now) < 0) {
            return which + " expired on " + asn1_time_text(not_after) +
                   ", so the server cannot accept it and no re-sync of the server's trust will help. Renew the "
                   "certificate and point the site's client_cert at the new one.";
        }
        if (not_before != nullptr && X509_cmp_time(not_before, &now) > 0) {
            return which + " is not valid before " + asn1_time_text(not_before) +
                   ", so the server cannot accept it yet. Check the host's clock, or use a certificate that is "
                   "valid now.";
        }
        return std::nullopt;
    }

    std::string issuer_not_listed_sentence() const {
        const auto& names = *result_.client_ca_names;
        const std::size_t shown = std::min(names.size(), kCaNamesInSentence);
        std::string accepted = join(std::span(names).first(shown), "; ");
        if (const std::size_t more = names.size() - shown + omitted_ca_names_; more > 0) {
            accepted += " (and " + std::to_string(more) + " more)";
        }
        return "The server accepts client certificates issued by " + accepted + " only, but certheal's certificate "
               "was issued by " + own_issuer_ + ": the server's client-certificate trust is out of sync with the CA "
               "that issues your clients' certificates.";
    }

    std::string status_sentence() const {
        std::string answer = std::to_string(*result_.status);
        if (result_.iis_substatus) answer += "." + std::to_string(*result_.iis_substatus);
        if (result_.iis_win32_status) answer += " (Error Code " + *result_.iis_win32_status + ")";
        const std::string answered = site_.host + " (" + peer_ + ") answered " + answer;
        switch (classification_.rule) {
        case ClassRule::nginx_no_certificate:
            return answered + " \"No required SSL certificate was sent\": the server requires a client certificate and " +
                   (observation_.client_cert_configured ? "did not get one that it asked for. Check the server's "
                                                          "client-certificate trust."
                                                        : "none is configured for this site in certheal.");
        case ClassRule::nginx_certificate_error:
            if (result_.probe_class == ProbeClass::client_cert_invalid) {
                return answered + " \"The SSL certificate error\" although it names certheal's issuer (" + own_issuer_ +
                       ") among the CAs it accepts: the server trusts that CA and still refused this certificate "
                       "(revoked, or not meant for client authentication); no re-sync of the server's trust cures "
                       "that. Check the client certificate and the server's CRL.";
            }
            return answered + " \"The SSL certificate error\": the server did not accept the client certificate. Check "
                              "the server's client-certificate trust (nginx: ssl_client_certificate).";
        case ClassRule::apache_post_handshake_auth:
            return answered + " \"Cannot perform Post-Handshake Authentication\": the server (Apache) asks for the "
                              "client certificate after the request by TLS 1.3 post-handshake authentication, which "
                              "certheal offers; something between certheal and the server (a proxy or load balancer "
                              "that ends TLS) did not pass the offer on. This says nothing about the server's trust. "
                              "Have the server ask for the certificate in the handshake (SSLVerifyClient require for "
                              "the whole virtual host), or let that hop speak TLS 1.2.";
        case ClassRule::tls13_per_path_certificate:
            return answered + ": IIS would have to ask a TLS 1.3 client for its certificate after the request, "
                              "which it cannot do.";
        default:
            break;
        }
        switch (result_.probe_class) {
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
        const std::string expected =
            join(site_.expect_status, ", ", [](int status) { return std::to_string(status); });
        return answered + " where " + expected + " was expected.";
    }

    asio::io_context& io_;
    SiteConfig site_;
    ProberOptions options_;
    std::shared_ptr<ssl::context> context_;
    SharedIdentity identity_;          // the client identity context_ presents, if any
    bool identity_unavailable_ = false;  // a store client certificate could not be had
    std::shared_ptr<const RejectionPattern> pattern_;
    tcp::resolver resolver_;
    std::optional<ssl::stream<tcp::socket>> stream_;
    asio::steady_timer timer_;
    boost::beast::flat_buffer buffer_;
    http::request<http::empty_body> request_;
    std::optional<http::response_parser<http::buffer_body>> parser_;
    std::array<char, 16384> chunk_{};  // where the body is read, a chunk at a time
    std::array<char, 512> drain_{};    // where a pending alert is read after a failed write
    std::function<void(ProbeResult)> done_;
    bool clock_started_ = false;
    SteadyClock::time_point started_;
    SteadyClock::time_point deadline_;
    SteadyClock::time_point phase_started_;
    unsigned phase_generation_ = 0;
    bool timed_out_ = false;
    bool cancelled_ = false;
    bool finished_ = false;
    std::string peer_;
    std::string own_subject_;
    std::string own_issuer_;
    std::optional<std::string> own_certificate_problem_;
    std::size_t omitted_ca_names_ = 0;
    int interim_answers_ = 0;
    HandshakeTrace trace_;
    ProbeObservation observation_;
    Classification classification_;
    ProbeResult result_;
    const bool tls12_retry_;
    std::weak_ptr<ProbeSession> retry_;  // the TLS 1.2 retry in flight, if any
};

}  // namespace

struct HttpsProber::Impl : std::enable_shared_from_this<HttpsProber::Impl> {
    struct Pending {
        SiteConfig site;
        std::function<void(ProbeResult)> done;
    };
    // A probe thread: its own io_context, kept running until the prober goes.
    struct ProbeThread {
        asio::io_context io{1};
        asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
        std::thread thread;
    };
    struct Live {
        std::weak_ptr<ProbeSession> session;
        asio::io_context* where = nullptr;
    };

    Impl(asio::io_context& home_io, ProberOptions prober_options, CertificateStores* stores,
         std::shared_ptr<TlsMaterialCache> shared_material, ClientIdentitySource* identities)
        : home(home_io),
          options(prober_options),
          material(shared_material ? std::move(shared_material) : std::make_shared<TlsMaterialCache>()),
          contexts(*material, stores, identities) {
        if (options.max_in_flight == 0) options.max_in_flight = 1;
        for (std::size_t index = 0; index < options.threads; ++index) {
            auto probe_thread = std::make_unique<ProbeThread>();
            probe_thread->thread = std::thread([&io = probe_thread->io] { io.run(); });
            threads.push_back(std::move(probe_thread));
        }
    }

    // Ends the probe threads. Sessions still on them are dropped without calling back.
    void stop_threads() noexcept {
        closed = true;
        for (auto& probe_thread : threads) {
            probe_thread->work.reset();
            probe_thread->io.stop();
        }
        for (auto& probe_thread : threads) {
            if (probe_thread->thread.joinable()) probe_thread->thread.join();
        }
    }

    // Starts queued probes while there is room. Runs on the home thread.
    void pump() {
        while (!closed && live.size() < options.max_in_flight && !queue.empty()) {
            Pending next = std::move(queue.front());
            queue.pop_front();
            start(std::move(next));
        }
        if (live.empty() && queue.empty()) busy.reset();
    }

    void start(Pending next) {
        asio::io_context& where = threads.empty() ? home : threads[next_thread++ % threads.size()]->io;
        const std::uint64_t id = ++last_id;
        // Runs on the session's thread; the result goes back to the home thread, where the
        // caller's callback runs and the freed slot starts the next queued probe.
        auto finished = [weak = weak_from_this(), id, done = std::move(next.done)](ProbeResult result) mutable {
            auto self = weak.lock();
            if (!self) return;
            asio::post(self->home, [weak, id, done = std::move(done), result = std::move(result)]() mutable {
                auto impl = weak.lock();
                if (impl) impl->live.erase(id);
                done(std::move(result));
                if (impl) impl->pump();
            });
        };
        auto session = std::make_shared<ProbeSession>(where, next.site, pattern_for(next.site.rejection_pattern),
                                                      options, std::move(finished));
        live[id] = Live{session, &where};
        // The context is found where the probe runs: a store client certificate is chosen there
        // (reading the store and opening its key block), never on the home thread.
        asio::post(where, [session, weak = weak_from_this(), tls = next.site.tls, name = next.site.name] {
            if (auto self = weak.lock()) session->start(self->contexts.context_for(tls, name));
        });
    }

    // Each distinct pattern is compiled once, however many sites and probes use it. Config
    // validation has refused patterns that do not compile; the default stands in for one anyway.
    std::shared_ptr<const RejectionPattern> pattern_for(const std::string& text) {
        const auto found = patterns.find(text);
        if (found != patterns.end()) return found->second;
        auto compiled = RejectionPattern::compile(text);
        auto pattern = compiled ? compiled.value() : RejectionPattern::default_pattern();
        if (patterns.size() >= kMaxCompiledPatterns) patterns.clear();  // only after many reloads
        patterns.emplace(text, pattern);
        return pattern;
    }
    static constexpr std::size_t kMaxCompiledPatterns = 256;

    asio::io_context& home;
    ProberOptions options;
    std::map<std::string, std::shared_ptr<const RejectionPattern>> patterns;
    std::shared_ptr<TlsMaterialCache> material;
    TlsContextCache contexts;
    std::vector<std::unique_ptr<ProbeThread>> threads;
    std::size_t next_thread = 0;
    std::deque<Pending> queue;
    std::map<std::uint64_t, Live> live;  // started, not yet handed back
    std::uint64_t last_id = 0;
    // Keeps the home io_context running while probes are queued or on the probe threads.
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> busy;
    bool closed = false;
};

std::size_t default_probe_threads() noexcept {
    const unsigned hardware = std::thread::hardware_concurrency();
    return std::clamp<std::size_t>(hardware == 0 ? 1 : hardware, 1, 4);
}

HttpsProber::HttpsProber(asio::io_context& io, ProberOptions options, CertificateStores* system_stores,
                         std::shared_ptr<TlsMaterialCache> material, ClientIdentitySource* identities)
    : impl_(std::make_shared<Impl>(io, options, system_stores, std::move(material), identities)) {}

HttpsProber::~HttpsProber() noexcept { impl_->stop_threads(); }

void HttpsProber::probe(const SiteConfig& site, std::function<void(ProbeResult)> done) {
    auto& impl = *impl_;
    if (!impl.busy) impl.busy.emplace(impl.home.get_executor());
    impl.queue.push_back(Impl::Pending{site, std::move(done)});
    // Started from the home loop, so the callback never runs inside probe().
    asio::post(impl.home, [weak = std::weak_ptr<Impl>(impl_)] {
        if (auto alive = weak.lock()) alive->pump();
    });
}

void HttpsProber::cancel_all() {
    auto& impl = *impl_;
    for (auto& [id, live] : impl.live) {
        if (auto session = live.session.lock()) {
            asio::post(*live.where, [session] { session->cancel(); });
        }
    }
    // Probes that never started end the same way, without touching the network.
    for (auto& pending : impl.queue) {
        ProbeResult result;
        result.site = pending.site.name;
        result.url = pending.site.url;
        result.probe_class = ProbeClass::timeout;
        result.error = "The probe of " + pending.site.name + " was cancelled because certheal is stopping.";
        asio::post(impl.home, [done = std::move(pending.done), result = std::move(result)]() mutable {
            done(std::move(result));
        });
    }
    impl.queue.clear();
}

std::size_t HttpsProber::cached_contexts() const noexcept { return impl_->contexts.size(); }

std::size_t HttpsProber::in_flight() const noexcept { return impl_->live.size(); }

void HttpsProber::set_max_in_flight(std::size_t most) {
    impl_->options.max_in_flight = std::max<std::size_t>(most, 1);
    impl_->pump();
}

}  // namespace certheal
