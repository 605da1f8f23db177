#pragma once
// One probe of one site: resolve, connect, a full TLS handshake, one GET, the answer's status
// line and the start of its body, each phase under its deadline. The session finds the facts
// (what the server did, what certheal's certificate is), the classifier says what they mean,
// and core/describe/probe_sentences words them. It runs on one io_context and ends in exactly one
// call of its `done`, also on timeout or cancellation.

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "core/base/clock.hpp"
#include "core/describe/probe_sentences.hpp"
#include "core/model/config_model.hpp"
#include "core/probe/classifier.hpp"
#include "core/probe/https_prober.hpp"
#include "core/probe/tls_contexts.hpp"
#include "core/probe/transport_failures.hpp"

namespace certheal {

class ProbeSession : public std::enable_shared_from_this<ProbeSession> {
public:
    // `wall_clock`: the wall time certheal's certificate dates are held against, read on this
    // session's thread; null: the system's.
    // `tls12_retry`: the second probe of a site that failed on TLS 1.3 in the way of an IIS that
    // asks for the certificate after the request; it offers TLS 1.2 at most.
    ProbeSession(boost::asio::io_context& io, const SiteConfig& site, std::shared_ptr<const RejectionPattern> pattern,
                 const ProberOptions& options, const Clock* wall_clock, std::function<void(ProbeResult)> done,
                 bool tls12_retry = false);

    // Starts with the TLS context of the site's settings, or ends at once when there is none: a
    // store client certificate that cannot be had is certheal's own certificate problem
    // (client_cert_invalid), anything else a local set-up failure.
    void start(Result<ClientTlsContext> context);

    // Finishes at once; the operations still pending come back aborted and find the
    // session finished. (A resolver blocked in getaddrinfo cannot be interrupted, so
    // waiting for it would overrun the deadline.)
    void cancel();

private:
    using SteadyClock = std::chrono::steady_clock;
    using tcp = boost::asio::ip::tcp;

    bool prepare_stream();
    void fail_setup(std::string what);
    void begin_clock();
    void begin_phase(ProbePhase phase, std::optional<Duration> limit);
    void on_deadline();
    double end_phase();
    void abort_io();
    void on_resolved(const boost::system::error_code& ec, const tcp::resolver::results_type& results);
    void on_connected(const boost::system::error_code& ec, const tcp::endpoint& endpoint);
    void on_handshake(const boost::system::error_code& ec);
    void on_written(const boost::system::error_code& ec);
    void read_header();
    void read_alert_after_failed_write(const boost::system::error_code& write_error);
    void on_header(const boost::system::error_code& ec);
    void read_body_chunk();
    void on_body_chunk(boost::system::error_code ec);
    void answer_read();
    void finish_with_exchange_failure(const boost::system::error_code& ec, ExchangeStep step);
    bool interrupted() const noexcept;
    ProbeSubject subject() const;
    std::string interruption_sentence() const;
    std::string status_sentence() const;
    TimePoint wall_now() const;
    void record_client_certificate_evidence(SSL* ssl);
    void classify_and_word(std::string error);
    void finish(std::string error);
    bool start_tls12_retry();
    void finish_after_retry(ProbeResult second, bool asked_by_renegotiation);

    boost::asio::io_context& io_;
    SiteConfig site_;
    ProberOptions options_;
    const Clock* wall_clock_;
    std::shared_ptr<boost::asio::ssl::context> context_;
    SharedIdentity identity_;            // the client identity context_ presents, if any
    bool identity_unavailable_ = false;  // a store client certificate could not be had
    std::shared_ptr<const RejectionPattern> pattern_;
    tcp::resolver resolver_;
    std::optional<boost::asio::ssl::stream<tcp::socket>> stream_;
    boost::asio::steady_timer timer_;
    boost::beast::flat_buffer buffer_;
    boost::beast::http::request<boost::beast::http::empty_body> request_;
    std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> parser_;
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

}  // namespace certheal
