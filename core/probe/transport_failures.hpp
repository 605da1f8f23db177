#pragma once
// How a probe's connection failed, read from Boost.Asio's and OpenSSL's error codes and from what
// OpenSSL's message callback saw, mapped to the classifier's TransportFailure so the classifier
// stays free of OS and OpenSSL details.

#include <cstddef>
#include <optional>
#include <string>

#include <boost/system/error_code.hpp>
#include <openssl/ssl.h>

#include "core/probe/classifier.hpp"

namespace certheal {

// What the OpenSSL message callback saw on the connection.
struct HandshakeTrace {
    bool certificate_requested = false;
    // A CertificateRequest after the request went out: by a TLS 1.2 renegotiation or TLS 1.3
    // post-handshake authentication (a site that asks only on some paths).
    bool certificate_requested_after_request = false;
    bool request_sent = false;
    std::optional<int> received_alert;
};

// The OpenSSL message callback that fills the HandshakeTrace `arg` points at.
void trace_tls_message(int write_p, int version, int content_type, const void* buf, std::size_t len, SSL* ssl,
                       void* arg);

// Whether an OpenSSL error reason is a TLS alert received from the peer.
bool is_alert_reason(int reason) noexcept;

// What OpenSSL says when the peer's first bytes are no TLS record at all.
bool not_tls(const boost::system::error_code& ec);

// How `ec` ended the connection; `tls_alert` gets the alert's name when it was an alert.
TransportFailure transport_failure(const boost::system::error_code& ec, const HandshakeTrace& trace,
                                   std::optional<std::string>& tls_alert);

}  // namespace certheal
