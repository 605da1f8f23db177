#include "core/probe/transport_failures.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <openssl/err.h>

namespace certheal {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

TransportFailure alert_from_trace(const HandshakeTrace& trace, std::optional<std::string>& tls_alert) {
    tls_alert = tls_alert_name(*trace.received_alert);
    return TransportFailure::tls_alert;
}

}  // namespace

void trace_tls_message(int write_p, int /*version*/, int content_type, const void* buf, std::size_t len, SSL* /*ssl*/,
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

bool is_alert_reason(int reason) noexcept { return reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256; }

bool not_tls(const boost::system::error_code& ec) {
    if (ec.category() != asio::error::get_ssl_category()) return false;
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    return reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
           reason == SSL_R_RECORD_LENGTH_MISMATCH || reason == SSL_R_UNKNOWN_PROTOCOL ||
           reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST;
}

TransportFailure transport_failure(const boost::system::error_code& ec, const HandshakeTrace& trace,
                                   std::optional<std::string>& tls_alert) {
    namespace error = asio::error;
    if (ec.category() == error::get_ssl_category()) {
        const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
        if (is_alert_reason(reason)) {
            tls_alert = tls_alert_name(reason - SSL_AD_REASON_OFFSET);
            return TransportFailure::tls_alert;
        }
        if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) return TransportFailure::server_cert_invalid;
        if (trace.received_alert) return alert_from_trace(trace, tls_alert);
        if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) return TransportFailure::closed;
        return TransportFailure::tls_protocol;
    }
    // The alert may have arrived just before the connection dropped.
    if (trace.received_alert) return alert_from_trace(trace, tls_alert);
    if (ec == error::connection_refused) return TransportFailure::refused;
    if (ec == error::connection_reset || ec == error::connection_aborted || ec == error::broken_pipe) {
        return TransportFailure::reset;
    }
    if (ec == error::network_unreachable || ec == error::host_unreachable || ec == error::network_down) {
        return TransportFailure::unreachable;
    }
    if (ec == error::timed_out) return TransportFailure::timed_out;
    if (ec == error::eof || ec == asio::ssl::error::stream_truncated || ec == http::error::end_of_stream ||
        ec == http::error::partial_message) {
        return TransportFailure::closed;
    }
    // Any other complaint of the HTTP parser: the server answered, but not in HTTP.
    if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
        return TransportFailure::http_protocol;
    }
    return TransportFailure::other;
}

}  // namespace certheal
