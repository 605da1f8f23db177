// certheal_iis_lab_server: a TLS test peer that asks for client certificates the way IIS does.
//
// IIS on TLS 1.2 completes the first handshake without a CertificateRequest, reads the HTTP
// request, and only then asks for the client certificate by a server-initiated renegotiation.
// It answers at the HTTP level: 403 with the sub-status in the body only (403.7 no certificate,
// 403.16 untrusted, 403.17 expired or not yet valid, 403.13 revoked), else 200. To requests from
// the host itself IIS sends its detailed error page, whose "Detailed Error Information" table
// carries the Windows error code (Error Code 0x800b0109). On TLS 1.3 IIS cannot renegotiate: a
// site that asks for the certificate only after the request (no "Negotiate Client Certificate"
// on its binding) resets the connection right after the request on Windows Server 2022 and
// answers 500.0 with 0x80070032 (ERROR_NOT_SUPPORTED) on Windows Server 2025. This server does
// the same, so that certheal's lab tests and demo can meet that behaviour without Windows.
//
//   certheal_iis_lab_server --cert FILE --key FILE --client-ca-bundle FILE
//       [--request renegotiate|handshake] [--tls 1.2|1.3|1.2-1.3] [--ca-names trusted|empty]
//       [--tls13-renegotiation reset|500.0] [--resumption none|offer]
//       [--answer 200|403.7|403.13|403.13-offline|403.16|403.16-chaining|403.17]
//       [--port-file FILE] [--log FILE]
//
// --tls 1.2-1.3 accepts both, as IIS does by default on Windows Server 2022 and later; with
// --request renegotiate it needs --tls13-renegotiation: what a TLS 1.3 connection meets when
// the certificate would be asked for after the request (reset: Server 2022; 500.0: Server
// 2025). --resumption offer keeps a session cache and issues session tickets (TLS 1.2 and 1.3),
// so that a client that resumes shows in the log (resumed=yes); by default the server resumes
// nothing, as a renegotiation must carry a full CertificateRequest.
//
// The answer to a presented certificate follows what Windows would say of its chain: none of
// its issuers found (OpenSSL: unable to get the issuer) is 403.16 with 0x800b010a
// CERT_E_CHAINING, a chain that ends in a root the server does not trust is 403.16 with
// 0x800b0109 CERT_E_UNTRUSTEDROOT, an expired or not yet valid one 403.17 with 0x800b0101.
// --answer forces one answer for every certificate: 403.13 is a revoked certificate
// (0x80092010 CRYPT_E_REVOKED), 403.13-offline a revocation server out of reach (0x80092013
// CRYPT_E_REVOCATION_OFFLINE), 403.16-chaining the missing intermediate. The pages have IIS 10's
// structure (title, heading, "Most likely causes", "Things you can try", the "Detailed Error
// Information" table, "More Information"); their sentences are IIS's where known, else written
// in its manner.
//
// It listens on 127.0.0.1 on an ephemeral port, prints `port=N` and serves until SIGTERM or
// SIGINT. The client CA bundle is read again for every connection, so that changing the file
// takes effect for the next connection, the way IIS reads its certificate store.
//
// --log appends one line per connection, space-separated key=value pairs:
//   tls=TLSv1.2 request_mode=renegotiate initial_cert_request=no renegotiated=yes
//   renegotiation_cert_request=yes client_cert=CN=certheal%20lab%20client
//   cert_received_via=renegotiation verify=ok answer=200 path=/health trusted_cas=1 resumed=no
//   [error=...]
// Values are percent-encoded: space, '%' and bytes outside printable ASCII become %XX, so a
// value never contains a space. client_cert is the subject in RFC 2253 form or `none`.
// initial_cert_request, renegotiated and renegotiation_cert_request are what the server saw
// on the wire (its message callback), not what it was told to do. verify is `ok`, `none` (no
// certificate) or the first X509 verification error in OpenSSL's words with underscores, e.g.
// certificate_has_expired. resumed says whether the handshake resumed a session. error is there
// only when something went wrong, e.g.
// error=handshake_failed:wrong_version_number (then answer=none) or error=malformed_request
// (answer=400, the HTTP.sys answer to a request IIS never sees).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxRequestHeaderBytes = 16 * 1024;
constexpr std::size_t kMaxConcurrentConnections = 256;
constexpr auto kHandshakeTimeout = 5s;
constexpr auto kRequestTimeout = 5s;
constexpr auto kRenegotiationTimeout = 5s;
constexpr auto kWriteTimeout = 5s;
// After our close_notify, read what the client still sends so that closing the socket does
// not reset the connection before the client has read the answer.
constexpr auto kLingerTimeout = 1s;
constexpr std::size_t kMaxLingerBytes = 64 * 1024;
// Every connection gives up within its timeouts; this only guards against a bug in that.
constexpr auto kShutdownGrace = 10s;
constexpr int kListenBacklog = 64;
constexpr int kUsageError = 2;

// --- RAII for OpenSSL objects and file descriptors ---------------------------------------
template <auto Free>
struct Deleter {
    template <class T>
    void operator()(T* object) const noexcept { Free(object); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
void free_names(STACK_OF(X509_NAME) * names) { sk_X509_NAME_pop_free(names, X509_NAME_free); }
using NameStackPtr = std::unique_ptr<STACK_OF(X509_NAME), Deleter<free_names>>;

class Fd {
public:
    explicit Fd(int fd = -1) noexcept : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    ~Fd() { reset(); }
    int get() const noexcept { return fd_; }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

// --- options -----------------------------------------------------------------------------
enum class RequestMode { renegotiate, handshake };
enum class CaNames { trusted, empty };
enum class Tls13Renegotiation { none, reset, error_500 };  // what IIS does instead on TLS 1.3

struct Options {
    std::string cert, key, client_ca_bundle;
    RequestMode request_mode = RequestMode::renegotiate;
    int min_tls_version = TLS1_2_VERSION;
    int max_tls_version = TLS1_2_VERSION;
    CaNames ca_names = CaNames::trusted;
    Tls13Renegotiation tls13_renegotiation = Tls13Renegotiation::none;
    bool offer_resumption = false;
    std::optional<std::string> forced_answer;
    std::optional<std::string> port_file, log_file;
};

// What IIS sends for each answer; the status line never carries the sub-status. The sub-status
// and the Windows error code are in the detailed error page only.
struct Answer {
    std::string_view id;
    int status;
    std::string_view reason;
    std::string_view sub_status;  // "16" for 403.16
    std::string_view error_code;  // as IIS prints it: 0x800b0109
    std::string_view description; // the page's first heading; empty for 200 and 400
    std::string_view likely_causes;  // <li> items
    std::string_view things_to_try;
    std::string_view more_information;
};
constexpr std::string_view kRenewCertificate =
    "\t<li>Obtain a new client certificate from the certification authority and try the request again.</li>";
constexpr Answer kAnswers[] = {
    {"200", 200, "OK", "", "", "", "", "", ""},
    {"400", 400, "Bad Request", "", "", "", "", "", ""},
    {"403.7", 403, "Forbidden", "7", "0x80070005",
     "The page you are attempting to access requires your browser to have a Secure Sockets Layer (SSL) "
     "client certificate that the Web server recognizes.",
     "\t<li>The Web site is configured to require a client certificate, and the client did not send one, or sent "
     "one that was not issued by a certification authority that the Web server trusts.</li>",
     "\t<li>Install a client certificate that is issued by a certification authority that the Web server trusts, "
     "and try the request again.</li>",
     "This error occurs when the Web site requires a client certificate and the browser did not present an "
     "acceptable one."},
    {"403.13", 403, "Forbidden", "13", "0x80092010",
     "The client certificate used for this request has been revoked by the Web server's certificate authority.",
     "\t<li>The certification authority that issued the client certificate has revoked it.</li>", kRenewCertificate,
     "This error occurs when the client certificate is listed in the certificate revocation list of its "
     "certification authority."},
    {"403.13-offline", 403, "Forbidden", "13", "0x80092013",
     "The client certificate used for this request has been revoked by the Web server's certificate authority.",
     "\t<li>The Web server could not check the revocation status of the client certificate because the revocation "
     "server was offline.</li>",
     "\t<li>Make sure that the Web server can reach the CRL distribution points and the OCSP responder of the "
     "certification authority.</li>",
     "This error occurs when the revocation function was unable to check revocation because the revocation "
     "server was offline."},
    {"403.16", 403, "Forbidden", "16", "0x800b0109", "Your client certificate is either not trusted or is invalid.",
     "\t<li>The root certificate of the certification authority that issued the client certificate is not in the "
     "Trusted Root Certification Authorities store of the Web server.</li>",
     "\t<li>Install the root certificate of the certification authority in the Trusted Root Certification "
     "Authorities store of the local computer.</li>",
     "A certificate chain processed, but terminated in a root certificate which is not trusted by the trust "
     "provider."},
    {"403.16-chaining", 403, "Forbidden", "16", "0x800b010a",
     "Your client certificate is either not trusted or is invalid.",
     "\t<li>A certificate chain could not be built to a trusted root authority: an intermediate certificate of the "
     "certification authority is missing on the Web server.</li>",
     "\t<li>Install the intermediate certificates of the certification authority in the Intermediate "
     "Certification Authorities store of the local computer.</li>",
     "A certificate chain could not be built to a trusted root authority."},
    {"403.17", 403, "Forbidden", "17", "0x800b0101", "Your client certificate has expired or is not yet valid.",
     "\t<li>The client certificate has expired, or its validity period has not started yet.</li>", kRenewCertificate,
     "A required certificate is not within its validity period when verifying against the current system clock."},
    {"500.0", 500, "Internal Server Error", "0", "0x80070032",
     "The page cannot be displayed because an internal server error has occurred.",
     "\t<li>IIS received the request; however, an internal error occurred during the processing of the request. "
     "The root cause of this error depends on which module handles the request and what was happening in the "
     "worker process when this error occurred.</li>",
     "\t<li>Ensure that the module is configured correctly.</li> \t<li>Check the event logs to see if any additional "
     "information was logged.</li>",
     "This error means that there was a problem while processing the request. The request was received by the "
     "Web server, but during processing a fatal error occurred, causing the 500 error."},
};

const Answer* find_answer(std::string_view id) {
    for (const auto& answer : kAnswers) {
        if (answer.id == id) return &answer;
    }
    return nullptr;
}

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "certheal_iis_lab_server: " << message << "\n"
              << "usage: certheal_iis_lab_server --cert FILE --key FILE --client-ca-bundle FILE"
                 " [--request renegotiate|handshake] [--tls 1.2|1.3|1.2-1.3] [--ca-names trusted|empty]"
                 " [--tls13-renegotiation reset|500.0] [--resumption none|offer]"
                 " [--answer 200|403.7|403.13|403.13-offline|403.16|403.16-chaining|403.17]"
                 " [--port-file FILE] [--log FILE]\n";
    std::exit(kUsageError);
}

Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; i += 2) {
        const std::string name = argv[i];
        if (i + 1 >= argc) usage_error("The option " + name + " needs a value.");
        const std::string value = argv[i + 1];
        if (name == "--cert") options.cert = value;
        else if (name == "--key") options.key = value;
        else if (name == "--client-ca-bundle") options.client_ca_bundle = value;
        else if (name == "--port-file") options.port_file = value;
        else if (name == "--log") options.log_file = value;
        else if (name == "--request" && (value == "renegotiate" || value == "handshake"))
            options.request_mode = value == "renegotiate" ? RequestMode::renegotiate : RequestMode::handshake;
        else if (name == "--tls" && (value == "1.2" || value == "1.3" || value == "1.2-1.3")) {
            options.min_tls_version = value == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
            options.max_tls_version = value == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
        } else if (name == "--tls13-renegotiation" && (value == "reset" || value == "500.0"))
            options.tls13_renegotiation = value == "reset" ? Tls13Renegotiation::reset : Tls13Renegotiation::error_500;
        else if (name == "--resumption" && (value == "none" || value == "offer"))
            options.offer_resumption = value == "offer";
        else if (name == "--ca-names" && (value == "trusted" || value == "empty"))
            options.ca_names = value == "trusted" ? CaNames::trusted : CaNames::empty;
        else if (name == "--answer" && find_answer(value) != nullptr && value != "500.0") options.forced_answer = value;
        else usage_error("The option " + name + " " + value + " is not known or its value is not allowed.");
    }
    if (options.cert.empty() || options.key.empty() || options.client_ca_bundle.empty()) {
        usage_error("--cert, --key and --client-ca-bundle are required.");
    }
    const bool may_be_tls13 = options.max_tls_version == TLS1_3_VERSION;
    if (options.request_mode == RequestMode::renegotiate && may_be_tls13 &&
        options.tls13_renegotiation == Tls13Renegotiation::none) {
        usage_error("--request renegotiate with TLS 1.3 needs --tls13-renegotiation reset|500.0: TLS 1.3 has no "
                    "renegotiation, and IIS resets the connection (Windows Server 2022) or answers 500.0 (2025).");
    }
    if (options.tls13_renegotiation != Tls13Renegotiation::none &&
        (options.request_mode != RequestMode::renegotiate || !may_be_tls13)) {
        usage_error("--tls13-renegotiation goes with --request renegotiate and a --tls that allows 1.3.");
    }
    return options;
}

// --- small helpers -----------------------------------------------------------------------
std::string percent_encoded(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string encoded;
    for (const unsigned char c : text) {
        if (c <= ' ' || c >= 0x7f || c == '%') encoded += {'%', kHex[c >> 4], kHex[c & 0xf]};
        else encoded += static_cast<char>(c);
    }
    return encoded;
}

std::string with_underscores(std::string text) {
    std::replace(text.begin(), text.end(), ' ', '_');
    return text;
}

// The reason of the last OpenSSL error, or what the system said, as one word.
std::string failure_reason(int ssl_error) {
    const unsigned long error = ERR_peek_last_error();
    if (error != 0) {
        const char* reason = ERR_reason_error_string(error);
        return with_underscores(reason != nullptr ? reason : "error_" + std::to_string(ERR_GET_REASON(error)));
    }
    if (ssl_error == SSL_ERROR_SYSCALL && errno != 0) return with_underscores(std::strerror(errno));
    return ssl_error == SSL_ERROR_ZERO_RETURN ? "closed_by_client" : "connection_closed";
}

std::string subject_rfc2253(X509* cert) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) return "unprintable";
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
}

// A connection that cannot go on; `what` becomes the log line's error value.
struct ConnectionError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The target of "METHOD SP target SP HTTP/1.x", or nothing when the request line is not that.
std::optional<std::string> request_target(const std::string& request) {
    const std::string line = request.substr(0, request.find("\r\n"));
    const auto first_space = line.find(' ');
    if (first_space == 0 || first_space == std::string::npos) return std::nullopt;
    const auto second_space = line.find(' ', first_space + 1);
    if (second_space == std::string::npos || second_space == first_space + 1) return std::nullopt;
    const std::string version = line.substr(second_space + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return std::nullopt;
    return line.substr(first_space + 1, second_space - first_space - 1);
}

// --- the trusted client CAs, read from disk for every connection --------------------------
struct TrustedClientCas {
    X509StorePtr store{X509_STORE_new()};
    NameStackPtr names{sk_X509_NAME_new_null()};
    int count = 0;
};

// An unreadable or empty bundle gives an empty store: every certificate is then untrusted,
// as with an empty IIS store, rather than a failed connection.
TrustedClientCas load_client_ca_bundle(const std::string& path) {
    TrustedClientCas cas;
    if (!cas.store || !cas.names) throw ConnectionError("out_of_memory");
    BioPtr file(BIO_new_file(path.c_str(), "r"));
    while (file) {
        X509Ptr cert(PEM_read_bio_X509(file.get(), nullptr, nullptr, nullptr));
        if (!cert) break;
        X509_STORE_add_cert(cas.store.get(), cert.get());
        if (X509_NAME* name = X509_NAME_dup(X509_get_subject_name(cert.get()))) sk_X509_NAME_push(cas.names.get(), name);
        ++cas.count;
    }
    ERR_clear_error();  // the end of the file reads as a PEM error
    return cas;
}

// --- what one connection saw and answered: its log line ---------------------------------
struct ConnectionRecord {
    // From the message callback: what really went over the wire.
    bool hello_request_sent = false;
    bool cert_request_in_first_handshake = false;
    bool cert_request_in_renegotiation = false;
    int client_hellos = 0;
    std::vector<int> verify_errors;  // every error the verify callback saw, in order
    // From the handler.
    std::string tls = "none", client_cert = "none", cert_received_via = "none", verify = "none";
    std::string answer = "none", path = "none", error;
    bool renegotiated = false;  // a renegotiation ran to completion
    bool resumed = false;       // the handshake resumed a session
    int trusted_cas = 0;
};

ConnectionRecord* record_of(const SSL* ssl) { return static_cast<ConnectionRecord*>(SSL_get_app_data(ssl)); }

void observe_message(int write_p, int /*version*/, int content_type, const void* buf, std::size_t len, SSL* ssl, void*) {
    ConnectionRecord* record = record_of(ssl);
    if (record == nullptr || content_type != SSL3_RT_HANDSHAKE || len == 0) return;
    const int type = *static_cast<const unsigned char*>(buf);
    if (write_p && type == SSL3_MT_HELLO_REQUEST) record->hello_request_sent = true;
    if (write_p && type == SSL3_MT_CERTIFICATE_REQUEST) {
        auto& seen = record->hello_request_sent ? record->cert_request_in_renegotiation : record->cert_request_in_first_handshake;
        seen = true;
    }
    if (!write_p && type == SSL3_MT_CLIENT_HELLO) ++record->client_hellos;
}

// Always accepts, so that an untrusted certificate does not fail the handshake: IIS answers
// it at the HTTP level. The errors are kept for that answer.
int record_verification(int preverified, X509_STORE_CTX* store_ctx) {
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (ConnectionRecord* record = ssl != nullptr ? record_of(ssl) : nullptr; record != nullptr && !preverified) {
        record->verify_errors.push_back(X509_STORE_CTX_get_error(store_ctx));
    }
    return 1;
}

// --- non-blocking I/O with deadlines -------------------------------------------------------
void wait_for_socket(int fd, short events, Clock::time_point deadline, const std::string& what) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left <= 0ms) throw ConnectionError(what + "_timed_out");
        pollfd entry{fd, events, 0};
        const int ready = poll(&entry, 1, static_cast<int>(left.count()));
        if (ready > 0) return;  // readable, writable, or hung up: the next call tells which
        if (ready < 0 && errno != EINTR) throw ConnectionError(what + "_failed:" + with_underscores(std::strerror(errno)));
    }
}

// Waits for what a non-positive OpenSSL result asks for, or throws.
void await_ssl(SSL* ssl, int fd, int result, Clock::time_point deadline, const std::string& what) {
    const int error = SSL_get_error(ssl, result);
    if (error == SSL_ERROR_WANT_READ) return wait_for_socket(fd, POLLIN, deadline, what);
    if (error == SSL_ERROR_WANT_WRITE) return wait_for_socket(fd, POLLOUT, deadline, what);
    throw ConnectionError(what + "_failed:" + failure_reason(error));
}

// Repeats a non-blocking OpenSSL call until it succeeds; throws when it fails or time is up.
template <class Operation>
int drive(SSL* ssl, int fd, Clock::time_point deadline, const std::string& what, Operation operation) {
    for (;;) {
        ERR_clear_error();
        errno = 0;
        const int result = operation();
        if (result > 0) return result;
        await_ssl(ssl, fd, result, deadline, what);
    }
}

// --- the server ----------------------------------------------------------------------------
// One line per connection, flushed at once: the lab tests read it while the server runs.
class RequestLog {
public:
    explicit RequestLog(const std::optional<std::string>& path) {
        if (path) file_.open(*path, std::ios::app);
        if (path && !file_) throw std::runtime_error("Cannot open the log file " + *path + ".");
    }
    void write(const std::string& line) {
        std::lock_guard lock(mutex_);
        if (file_.is_open()) file_ << line << std::endl;
    }

private:
    std::mutex mutex_;
    std::ofstream file_;
};

class Server {
public:
    explicit Server(Options options) : options_(std::move(options)), log_(options_.log_file) {}

    void configure_tls();
    // Serves connections until SIGTERM or SIGINT arrive on `signals`.
    void run(int listener, int signals);

private:
    void serve(Fd connection);
    void handle(SSL* ssl, int fd, ConnectionRecord& record);
    const Answer& choose_answer(SSL* ssl, ConnectionRecord& record) const;
    static void reset_connection(int fd, ConnectionRecord& record);
    void answer(SSL* ssl, int fd, const Answer& answer, ConnectionRecord& record);
    std::string log_line(const ConnectionRecord& record) const;

    Options options_;
    RequestLog log_;
    SslCtxPtr ctx_;
    std::mutex connections_mutex_;
    std::condition_variable connections_done_;
    std::set<int> open_connections_;
};

void Server::configure_tls() {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    if (!ctx_) throw std::runtime_error("Cannot create the TLS context.");
    SSL_CTX_set_min_proto_version(ctx_.get(), options_.min_tls_version);
    SSL_CTX_set_max_proto_version(ctx_.get(), options_.max_tls_version);
    if (SSL_CTX_use_certificate_chain_file(ctx_.get(), options_.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_.get(), options_.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx_.get()) != 1) {
        throw std::runtime_error("Cannot load the server certificate " + options_.cert + " and its key " + options_.key +
                                 ".");
    }
    if (options_.offer_resumption) {
        // A session cache and tickets, so that a client that offers a session gets it resumed
        // (and the log says so); never on a renegotiation.
        SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_SERVER);
        SSL_CTX_set_num_tickets(ctx_.get(), 2);
        SSL_CTX_set_options(ctx_.get(), SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    } else {
        // No resumption at all: a resumed renegotiation would skip the CertificateRequest.
        SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx_.get(), 0);
        SSL_CTX_set_options(ctx_.get(), SSL_OP_NO_TICKET | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    }
    static constexpr unsigned char kSessionContext[] = "certheal_iis_lab_server";
    SSL_CTX_set_session_id_context(ctx_.get(), kSessionContext, sizeof kSessionContext - 1);
    SSL_CTX_set_msg_callback(ctx_.get(), observe_message);
}

void Server::run(int listener, int signals) {
    for (;;) {
        pollfd entries[] = {{listener, POLLIN, 0}, {signals, POLLIN, 0}};
        if (poll(entries, 2, -1) < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(std::string("poll() on the listening socket failed: ") + std::strerror(errno) + ".");
        }
        if (entries[1].revents != 0) break;
        Fd connection(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (connection.get() < 0) continue;  // the client gave up already, or a transient error
        std::lock_guard lock(connections_mutex_);
        if (open_connections_.size() >= kMaxConcurrentConnections) {
            ConnectionRecord record;
            record.error = "too_many_connections";
            log_.write(log_line(record));
            continue;
        }
        const int fd = connection.get();
        open_connections_.insert(fd);
        try {
            std::thread([this, c = std::move(connection)]() mutable { serve(std::move(c)); }).detach();
        } catch (const std::system_error&) {  // no thread to be had: this client is turned away
            open_connections_.erase(fd);
        }
    }
    // Wake every connection that waits on its client, then wait for the threads to finish.
    std::unique_lock lock(connections_mutex_);
    for (const int fd : open_connections_) shutdown(fd, SHUT_RDWR);
    if (!connections_done_.wait_for(lock, kShutdownGrace, [this] { return open_connections_.empty(); })) {
        std::cerr << "certheal_iis_lab_server: " << open_connections_.size()
                  << " connections did not finish within the shutdown grace time; exiting anyway.\n";
        std::_Exit(EXIT_FAILURE);
    }
}

void Server::serve(Fd connection) {
    const int fd = connection.get();
    ConnectionRecord record;
    SslPtr ssl(SSL_new(ctx_.get()));
    if (ssl && SSL_set_fd(ssl.get(), fd) == 1) {
        SSL_set_app_data(ssl.get(), &record);
        try {
            handle(ssl.get(), fd, record);
        } catch (const ConnectionError& error) {
            record.error = error.what();
        } catch (const std::exception& error) {  // a bug here must cost one connection, not the server
            record.error = "internal_error:" + with_underscores(error.what());
        }
        if (SSL_is_init_finished(ssl.get())) record.tls = SSL_get_version(ssl.get());
        record.resumed = SSL_session_reused(ssl.get()) == 1;
        SSL_set_app_data(ssl.get(), nullptr);
    } else {
        record.error = "cannot_create_tls_session";
    }
    log_.write(log_line(record));
    ssl.reset();
    {
        std::lock_guard lock(connections_mutex_);
        open_connections_.erase(fd);
        connection.reset();  // closed under the lock: run() never shuts down a reused number
    }
    connections_done_.notify_all();
}

// The request headers, bounded in time and size; nothing when they are too large.
std::optional<std::string> read_request_headers(SSL* ssl, int fd) {
    std::string request;
    const auto deadline = Clock::now() + kRequestTimeout;
    char chunk[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
        if (request.size() > kMaxRequestHeaderBytes) return std::nullopt;
        ERR_clear_error();
        errno = 0;
        const int got = SSL_read(ssl, chunk, sizeof chunk);
        if (got > 0) request.append(chunk, static_cast<std::size_t>(got));
        else await_ssl(ssl, fd, got, deadline, "request");
    }
    return request;
}

// A HelloRequest, then the client's new handshake, this time with a CertificateRequest.
void renegotiate_for_certificate(SSL* ssl, int fd, ConnectionRecord& record) {
    record.verify_errors.clear();
    SSL_set_verify(ssl, SSL_VERIFY_PEER, record_verification);
    if (SSL_renegotiate(ssl) != 1) {
        throw ConnectionError("renegotiation_refused_by_openssl:" + failure_reason(SSL_ERROR_SSL));
    }
    const auto deadline = Clock::now() + kRenegotiationTimeout;
    // Sends the HelloRequest; the client's new handshake is then processed by reads.
    drive(ssl, fd, deadline, "hello_request", [&] { return SSL_do_handshake(ssl); });
    while (SSL_renegotiate_pending(ssl) == 1) {
        ERR_clear_error();
        errno = 0;
        char byte = 0;
        const int got = SSL_peek(ssl, &byte, 1);
        // The peek that completes the handshake goes on to wait for application data, which
        // this client will not send before it has our answer: done, whatever the peek says.
        if (SSL_renegotiate_pending(ssl) == 0) break;
        if (got > 0) throw ConnectionError("renegotiation_failed:client_sent_data_instead_of_a_new_handshake");
        await_ssl(ssl, fd, got, deadline, "renegotiation");
    }
    record.renegotiated = record.client_hellos > 1;
    if (SSL_get0_peer_certificate(ssl) != nullptr) record.cert_received_via = "renegotiation";
}

const Answer& Server::choose_answer(SSL* ssl, ConnectionRecord& record) const {
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (cert == nullptr) return *find_answer("403.7");
    record.client_cert = subject_rfc2253(cert);
    const auto& errors = record.verify_errors;
    record.verify = errors.empty() ? "ok" : with_underscores(X509_verify_cert_error_string(errors.front()));
    const auto is_validity_error = [](int error) {
        return error == X509_V_ERR_CERT_HAS_EXPIRED || error == X509_V_ERR_CERT_NOT_YET_VALID;
    };
    if (options_.forced_answer) return *find_answer(*options_.forced_answer);
    // An untrusted certificate is 403.16 even when it is also expired: trust comes first. Which
    // 403.16: an issuer that cannot be found leaves Windows a partial chain (CERT_E_CHAINING);
    // any other failure of the chain ends in a root it does not trust.
    const auto is_issuer_missing = [](int error) {
        return error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
    };
    if (!std::all_of(errors.begin(), errors.end(), is_validity_error)) {
        const auto first_trust_error = *std::find_if_not(errors.begin(), errors.end(), is_validity_error);
        return *find_answer(is_issuer_missing(first_trust_error) ? "403.16-chaining" : "403.16");
    }
    return *find_answer(errors.empty() ? "200" : "403.17");
}

void Server::handle(SSL* ssl, int fd, ConnectionRecord& record) {
    const TrustedClientCas cas = load_client_ca_bundle(options_.client_ca_bundle);
    record.trusted_cas = cas.count;
    SSL_set1_verify_cert_store(ssl, cas.store.get());
    if (options_.ca_names == CaNames::trusted) {
        NameStackPtr names(sk_X509_NAME_deep_copy(cas.names.get(), X509_NAME_dup, X509_NAME_free));
        SSL_set_client_CA_list(ssl, names.release());  // takes ownership
    }
    // Renegotiate mode: the first handshake must carry no CertificateRequest, as with IIS.
    SSL_set_verify(ssl, options_.request_mode == RequestMode::handshake ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                   record_verification);
    drive(ssl, fd, Clock::now() + kHandshakeTimeout, "handshake", [&] { return SSL_accept(ssl); });
    record.tls = SSL_get_version(ssl);
    if (SSL_get0_peer_certificate(ssl) != nullptr) record.cert_received_via = "handshake";

    const auto request = read_request_headers(ssl, fd);
    const auto target = request ? request_target(*request) : std::nullopt;
    if (!target) {  // HTTP.sys turns it away before IIS would ask for a certificate
        record.error = request ? "malformed_request" : "request_headers_too_large";
        return answer(ssl, fd, *find_answer("400"), record);
    }
    record.path = *target;
    if (options_.request_mode == RequestMode::renegotiate && SSL_get0_peer_certificate(ssl) == nullptr) {
        if (SSL_version(ssl) == TLS1_3_VERSION) {
            // HTTP.sys cannot ask a TLS 1.3 client for its certificate after the request.
            if (options_.tls13_renegotiation == Tls13Renegotiation::error_500) {
                record.error = "tls13_cannot_renegotiate";
                return answer(ssl, fd, *find_answer("500.0"), record);
            }
            reset_connection(fd, record);
            return;
        }
        renegotiate_for_certificate(ssl, fd, record);
    }
    answer(ssl, fd, choose_answer(ssl, record), record);
}

// Windows Server 2022 on TLS 1.3: a TCP reset right after the request, no alert, no answer.
void Server::reset_connection(int fd, ConnectionRecord& record) {
    const linger abort_on_close{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    record.answer = "reset";
    record.error = "tls13_cannot_renegotiate";
}

// The URL as IIS shows it in its detailed error: the host the client named (SNI), the port.
std::string request_url(SSL* ssl, const std::string& path) {
    const char* server_name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    sockaddr_in local{};
    socklen_t length = sizeof local;
    std::uint16_t port = 443;
    if (getsockname(SSL_get_fd(ssl), reinterpret_cast<sockaddr*>(&local), &length) == 0) port = ntohs(local.sin_port);
    return "https://" + std::string(server_name != nullptr ? server_name : "localhost") + ":" + std::to_string(port) +
           path;
}

// IIS 10's detailed error page (custerr's template, as IIS sends it to local requests): its
// lines end in " \r\n", its values are indented with three &nbsp;.
std::string detailed_error_page(const Answer& answer, const std::string& url, const std::string& path) {
    const std::string status_dot_sub = std::to_string(answer.status) + "." + std::string(answer.sub_status);
    const std::string title = status_dot_sub + " - " + std::string(answer.reason);
    std::string physical_path = "C:\\inetpub\\wwwroot" + path;
    std::replace(physical_path.begin(), physical_path.end(), '/', '\\');
    const std::string nbsp = "&nbsp;&nbsp;&nbsp;";
    std::string page =
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" "
        "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\"> \r\n"
        "<html xmlns=\"http://www.w3.org/1999/xhtml\"> \r\n<head> \r\n"
        "<title>IIS 10.0 Detailed Error - " + title + "</title> \r\n"
        "<style type=\"text/css\"> \r\n<!-- \r\n"
        "body{margin:0;font-size:.7em;font-family:Verdana,Arial,Helvetica,sans-serif;} \r\n"
        "fieldset{padding:0 15px 10px 15px;word-break:break-all;} \r\n"
        "h3{font-size:1.4em;margin:10px 0 0 0;color:#CC0000;} \r\n"
        "h4{font-size:1.2em;margin:10px 0 5px 0; \r\n"
        "}#content{margin:0 0 0 2%;position:relative;} \r\n"
        ".summary-container,.content-container{background:#FFF;width:96%;margin-top:8px;padding:10px;position:relative;} \r\n"
        "#details-left{width:35%;float:left;margin-right:2%; \r\n"
        "}#details-right{width:63%;float:left;overflow:hidden; \r\n"
        "}th{width:30%;text-align:right;padding-right:2%;font-weight:bold;} \r\n"
        ".clear{clear:both;} \r\n--> \r\n</style> \r\n \r\n</head> \r\n<body> \r\n"
        "<div id=\"content\"> \r\n<div class=\"content-container\"> \r\n"
        "  <h3>HTTP Error " + title + "</h3> \r\n"
        "  <h4>" + std::string(answer.description) + "</h4> \r\n</div> \r\n"
        "<div class=\"content-container\"> \r\n <fieldset><h4>Most likely causes:</h4> \r\n"
        "  <ul> " + std::string(answer.likely_causes) + " </ul> \r\n </fieldset> \r\n</div> \r\n"
        "<div class=\"content-container\"> \r\n <fieldset><h4>Things you can try:</h4> \r\n"
        "  <ul> " + std::string(answer.things_to_try) + " </ul> \r\n </fieldset> \r\n</div> \r\n \r\n"
        "<div class=\"content-container\"> \r\n <fieldset><h4>Detailed Error Information:</h4> \r\n"
        "  <div id=\"details-left\"> \r\n   <table border=\"0\" cellpadding=\"0\" cellspacing=\"0\"> \r\n"
        "    <tr class=\"alt\"><th>Module</th><td>" + nbsp + "IIS Web Core</td></tr> \r\n"
        "    <tr><th>Notification</th><td>" + nbsp + "BeginRequest</td></tr> \r\n"
        "    <tr class=\"alt\"><th>Handler</th><td>" + nbsp + "StaticFile</td></tr> \r\n"
        "    <tr><th>Error Code</th><td>" + nbsp + std::string(answer.error_code) + "</td></tr> \r\n"
        "     \r\n   </table> \r\n  </div> \r\n"
        "  <div id=\"details-right\"> \r\n   <table border=\"0\" cellpadding=\"0\" cellspacing=\"0\"> \r\n"
        "    <tr class=\"alt\"><th>Requested URL</th><td>" + nbsp + url + "</td></tr> \r\n"
        "    <tr><th>Physical Path</th><td>" + nbsp + physical_path + "</td></tr> \r\n"
        "    <tr class=\"alt\"><th>Logon Method</th><td>" + nbsp + "Not yet determined</td></tr> \r\n"
        "    <tr><th>Logon User</th><td>" + nbsp + "Not yet determined</td></tr> \r\n"
        "     \r\n   </table> \r\n   <div class=\"clear\"></div> \r\n  </div> \r\n </fieldset> \r\n</div> \r\n \r\n"
        "<div class=\"content-container\"> \r\n <fieldset><h4>More Information:</h4> \r\n  " +
        std::string(answer.more_information) + " \r\n"
        "  <p><a href=\"https://go.microsoft.com/fwlink/?LinkID=62293&amp;IIS70Error=" +
        std::to_string(answer.status) + "," + std::string(answer.sub_status) + "," + std::string(answer.error_code) +
        ",20348\">View more information &raquo;</a></p> \r\n  \r\n </fieldset> \r\n</div> \r\n</div> \r\n"
        "</body> \r\n</html> \r\n";
    return page;
}

void Server::answer(SSL* ssl, int fd, const Answer& answer, ConnectionRecord& record) {
    record.answer = answer.id;
    const bool is_ok = answer.status == 200;
    const bool from_http_sys = answer.status == 400;  // HTTP.sys rejects bad requests before IIS sees them
    const std::string body = is_ok           ? "ok"
                             : from_http_sys ? "<h2>Bad Request</h2>\r\n<hr><p>HTTP Error 400. The request is badly formed.</p>"
                                             : detailed_error_page(answer, request_url(ssl, record.path), record.path);
    const std::string response =
        "HTTP/1.1 " + std::to_string(answer.status) + " " + std::string(answer.reason) + "\r\n" +
        "Server: " + (from_http_sys ? "Microsoft-HTTPAPI/2.0" : "Microsoft-IIS/10.0") + "\r\n" +
        "Content-Type: " + (is_ok ? "text/plain" : "text/html; charset=utf-8") + "\r\n" +
        (from_http_sys || is_ok ? "" : "X-Powered-By: ASP.NET\r\n") +
        "Content-Length: " + std::to_string(body.size()) + "\r\n" + "Connection: close\r\n\r\n" + body;
    drive(ssl, fd, Clock::now() + kWriteTimeout, "response",
          [&] { return SSL_write(ssl, response.data(), static_cast<int>(response.size())); });

    // Our close_notify, then read (and drop) what the client still sends until it closes, or
    // for the linger time at most: the answer is out either way.
    ERR_clear_error();
    SSL_shutdown(ssl);
    shutdown(fd, SHUT_WR);
    const auto linger_deadline = Clock::now() + kLingerTimeout;
    char sink[4096];
    for (std::size_t drained = 0; drained < kMaxLingerBytes;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(linger_deadline - Clock::now());
        pollfd entry{fd, POLLIN, 0};
        if (left <= 0ms || poll(&entry, 1, static_cast<int>(left.count())) <= 0) break;
        const ssize_t got = read(fd, sink, sizeof sink);
        if (got <= 0) break;
        drained += static_cast<std::size_t>(got);
    }
}

std::string Server::log_line(const ConnectionRecord& record) const {
    std::string line = "tls=" + record.tls +
                       " request_mode=" + (options_.request_mode == RequestMode::renegotiate ? "renegotiate" : "handshake") +
                       " initial_cert_request=" + (record.cert_request_in_first_handshake ? "yes" : "no") +
                       " renegotiated=" + (record.renegotiated ? "yes" : "no") +
                       " renegotiation_cert_request=" + (record.cert_request_in_renegotiation ? "yes" : "no") +
                       " client_cert=" + percent_encoded(record.client_cert) +
                       " cert_received_via=" + record.cert_received_via + " verify=" + percent_encoded(record.verify) +
                       " answer=" + record.answer + " path=" + percent_encoded(record.path) +
                       " trusted_cas=" + std::to_string(record.trusted_cas) +
                       " resumed=" + (record.resumed ? "yes" : "no");
    if (!record.error.empty()) line += " error=" + percent_encoded(record.error);
    return line;
}

// --- start-up --------------------------------------------------------------------------------
// A listening socket on 127.0.0.1 and the port the kernel picked for it.
std::pair<Fd, std::uint16_t> listen_on_loopback() {
    Fd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener.get() < 0 || bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(listener.get(), kListenBacklog) != 0 ||
        getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw std::runtime_error(std::string("Cannot listen on 127.0.0.1: ") + std::strerror(errno) + ".");
    }
    return {std::move(listener), ntohs(address.sin_port)};
}

// Written to a temporary name and renamed, so a reader never sees a half-written port.
void write_port_file(const std::filesystem::path& path, std::uint16_t port) {
    const std::filesystem::path temporary = path.string() + ".tmp";
    {
        std::ofstream file(temporary, std::ios::trunc);
        file << port << "\n";
        if (!file.flush()) throw std::runtime_error("Cannot write the port file " + temporary.string() + ".");
    }
    std::filesystem::rename(temporary, path);
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    try {
        // The signals are taken from a signalfd in the accept loop; every thread inherits the mask.
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
        if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) {
            throw std::runtime_error("Cannot block SIGTERM and SIGINT.");
        }
        Fd signals(signalfd(-1, &stop_signals, SFD_CLOEXEC));
        if (signals.get() < 0) throw std::runtime_error("Cannot create a signalfd for SIGTERM and SIGINT.");
        signal(SIGPIPE, SIG_IGN);  // a client that went away must not end the server

        Server server(options);
        server.configure_tls();
        const auto [listener, port] = listen_on_loopback();
        if (options.port_file) write_port_file(*options.port_file, port);
        std::cout << "port=" << port << std::endl;
        server.run(listener.get(), signals.get());
    } catch (const std::exception& error) {
        std::cerr << "certheal_iis_lab_server: " << error.what() << "\n";
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
