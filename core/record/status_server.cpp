#include "core/record/status_server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <sstream>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "core/base/duration.hpp"

namespace certheal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Prometheus label values escape backslash, double quote and newline.
std::string label(const std::string& value) {
    std::string escaped;
    for (const char c : value) {
        if (c == '\\' || c == '"') escaped += '\\';
        if (c == '\n') {
            escaped += "\\n";
            continue;
        }
        escaped += c;
    }
    return escaped;
}

long long unix_seconds(TimePoint time) {
    return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

void metric_header(std::ostringstream& out, const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

}  // namespace

std::string_view to_string(RemediationMode mode) noexcept {
    switch (mode) {
        case RemediationMode::enabled: return "enabled";
        case RemediationMode::dry_run: return "dry_run";
        case RemediationMode::disabled: return "disabled";
        case RemediationMode::paused: return "paused";
    }
    return "enabled";
}

RemediationMode remediation_mode(const MonitorStatus& status) noexcept {
    // Disabled wins over dry run: with remediation off, not even a dry run is started.
    if (!status.remediation_enabled) return RemediationMode::disabled;
    // Paused wins over dry run: while paused, not even a dry run starts.
    if (status.host_pause) return RemediationMode::paused;
    if (status.dry_run) return RemediationMode::dry_run;
    return RemediationMode::enabled;
}

namespace {

// certheal itself: that it runs, which version, and what it does about a confirmed symptom.
void write_mode_metrics(std::ostringstream& out, const MonitorStatus& status) {
    metric_header(out, "certheal_up", "gauge", "1 while the certheal monitor runs.");
    out << "certheal_up 1\n";
    metric_header(out, "certheal_build_info", "gauge", "Always 1; the label says which certheal version runs.");
    out << "certheal_build_info{version=\"" << label(CERTHEAL_VERSION) << "\"} 1\n";
    metric_header(out, "certheal_remediation_mode", "gauge",
                  "1 for what certheal does about a confirmed symptom (enabled: repairs; dry_run: logs what it "
                  "would do; disabled: only reports; paused: certheal pause holds every repair), 0 for the other "
                  "modes.");
    const auto mode = remediation_mode(status);
    for (const auto shown : kAllRemediationModes) {
        out << "certheal_remediation_mode{mode=\"" << to_string(shown) << "\"} " << (shown == mode ? 1 : 0) << '\n';
    }
}

// Per site: its health, symptom, pause and probe counts.
void write_site_probe_metrics(std::ostringstream& out, const MonitorStatus& status) {
    metric_header(out, "certheal_site_healthy", "gauge", "1 when the site's last probe was healthy.");
    for (const auto& site : status.sites) {
        const bool healthy = site.last_result && site.last_result->probe_class == ProbeClass::healthy;
        out << "certheal_site_healthy{site=\"" << label(site.name) << "\"} " << (healthy ? 1 : 0) << '\n';
    }
    metric_header(out, "certheal_site_symptom_confirmed", "gauge",
                  "1 while the site has a confirmed client-certificate symptom (an open incident).");
    for (const auto& site : status.sites) {
        out << "certheal_site_symptom_confirmed{site=\"" << label(site.name) << "\"} "
            << (site.symptom_confirmed ? 1 : 0) << '\n';
    }
    metric_header(out, "certheal_site_paused", "gauge",
                  "1 while a pause (certheal pause, of the host or of this site) holds the site's repairs.");
    for (const auto& site : status.sites) {
        out << "certheal_site_paused{site=\"" << label(site.name) << "\"} "
            << (status.host_pause || site.pause ? 1 : 0) << '\n';
    }
    metric_header(out, "certheal_probes_total", "counter", "Probes of the site since certheal started.");
    for (const auto& site : status.sites) {
        out << "certheal_probes_total{site=\"" << label(site.name) << "\"} " << site.probes << '\n';
    }
    metric_header(out, "certheal_probe_failures_total", "counter", "Probes of the site that were not healthy.");
    for (const auto& site : status.sites) {
        out << "certheal_probe_failures_total{site=\"" << label(site.name) << "\"} " << site.failed_probes << '\n';
    }
    metric_header(out, "certheal_probe_class_total", "counter",
                  "Probes of the site since certheal started, by the class they returned (every probe counts; the "
                  "journal only says when a class that is not a symptom starts or changes).");
    for (const auto& site : status.sites) {
        for (const auto& [probe_class, count] : site.class_counts) {
            out << "certheal_probe_class_total{site=\"" << label(site.name) << "\",class=\"" << to_string(probe_class)
                << "\"} " << count << '\n';
        }
    }
    metric_header(out, "certheal_probe_duration_seconds", "gauge", "Total duration of the site's last probe.");
    for (const auto& site : status.sites) {
        if (!site.last_result) continue;
        out << "certheal_probe_duration_seconds{site=\"" << label(site.name) << "\"} "
            << site.last_result->timings.total_ms / 1000.0 << '\n';
    }
}

// The repairs and the policy that bounds them.
void write_repair_metrics(std::ostringstream& out, const MonitorStatus& status) {
    metric_header(out, "certheal_repairs_started_total", "counter", "Repairs started since certheal started.");
    out << "certheal_repairs_started_total " << status.repairs_started << '\n';
    metric_header(out, "certheal_repairs_succeeded_total", "counter", "Repairs that were verified healthy.");
    out << "certheal_repairs_succeeded_total " << status.repairs_succeeded << '\n';
    metric_header(out, "certheal_repairs_failed_total", "counter", "Repairs that failed or were abandoned.");
    out << "certheal_repairs_failed_total " << status.repairs_failed << '\n';
    metric_header(out, "certheal_repair_running", "gauge", "1 while a repair workflow runs.");
    out << "certheal_repair_running " << (status.repair_running ? 1 : 0) << '\n';
    metric_header(out, "certheal_circuit_open", "gauge", "1 while the repair circuit is open (budget spent).");
    out << "certheal_circuit_open " << (status.circuit_open ? 1 : 0) << '\n';
    metric_header(out, "certheal_repair_attempts_in_window", "gauge", "Repairs counted in the current attempt window.");
    out << "certheal_repair_attempts_in_window " << status.attempts_in_window << '\n';
}

// Per site: the class and phases of its last probe.
void write_site_class_metrics(std::ostringstream& out, const MonitorStatus& status) {
    metric_header(out, "certheal_site_class", "gauge",
                  "1 for the class of the site's last probe, 0 for every other class.");
    for (const auto& site : status.sites) {
        if (!site.last_result) continue;
        for (const auto probe_class : kAllProbeClasses) {
            out << "certheal_site_class{site=\"" << label(site.name) << "\",class=\"" << to_string(probe_class) << "\"} "
                << (site.last_result->probe_class == probe_class ? 1 : 0) << '\n';
        }
    }
    metric_header(out, "certheal_probe_phase_seconds", "gauge",
                  "Seconds the site's last probe spent in each phase it reached (resolve, connect, tls, response).");
    for (const auto& site : status.sites) {
        if (!site.last_result) continue;
        const auto& timings = site.last_result->timings;
        const std::pair<const char*, const std::optional<double>*> phases[] = {
            {"resolve", &timings.resolve_ms}, {"connect", &timings.connect_ms},
            {"tls", &timings.tls_ms}, {"response", &timings.response_ms}};
        for (const auto& [phase, value] : phases) {
            if (!*value) continue;
            out << "certheal_probe_phase_seconds{site=\"" << label(site.name) << "\",phase=\"" << phase << "\"} "
                << **value / 1000.0 << '\n';
        }
    }
}

// Per site the certificates' expiry; the host trust causes; the last repair.
void write_expiry_and_trust_metrics(std::ostringstream& out, const MonitorStatus& status) {
    metric_header(out, "certheal_client_cert_not_after_seconds", "gauge",
                  "Unix time when the client certificate certheal presents to the site expires.");
    for (const auto& site : status.sites) {
        if (!site.client_cert_not_after) continue;
        out << "certheal_client_cert_not_after_seconds{site=\"" << label(site.name) << "\"} "
            << unix_seconds(*site.client_cert_not_after) << '\n';
    }
    metric_header(out, "certheal_server_cert_not_after_seconds", "gauge",
                  "Unix time when the certificate the site presented at its last probe expires.");
    for (const auto& site : status.sites) {
        if (!site.last_result || !site.last_result->server_cert_not_after) continue;
        out << "certheal_server_cert_not_after_seconds{site=\"" << label(site.name) << "\"} "
            << unix_seconds(*site.last_result->server_cert_not_after) << '\n';
    }
    if (status.host_trust) {
        // Every cause, 0 included, so that an alert can watch one series per cause.
        metric_header(out, "certheal_host_trust_cause", "gauge",
                      "Sites for which the host trust diagnosis (Windows) names this cause now.");
        for (const auto cause : kAllTrustCauses) {
            const auto count = std::count_if(status.sites.begin(), status.sites.end(),
                                             [cause](const SiteStatus& site) { return site.cause == cause; });
            out << "certheal_host_trust_cause{cause=\"" << to_string(cause) << "\"} " << count << '\n';
        }
    }
    if (status.last_repair) {
        metric_header(out, "certheal_last_repair_timestamp_seconds", "gauge",
                      "Unix time when the last repair (the service's or certheal repair's) ended.");
        out << "certheal_last_repair_timestamp_seconds " << unix_seconds(status.last_repair->ended_at) << '\n';
        metric_header(out, "certheal_last_repair_success", "gauge", "1 when the last repair succeeded, 0 when it failed.");
        out << "certheal_last_repair_success " << (status.last_repair->succeeded ? 1 : 0) << '\n';
    }
}

}  // namespace

std::string render_metrics(const MonitorStatus& status) {
    std::ostringstream out;
    write_mode_metrics(out, status);
    write_site_probe_metrics(out, status);
    write_repair_metrics(out, status);
    write_site_class_metrics(out, status);
    write_expiry_and_trust_metrics(out, status);
    metric_header(out, "certheal_metrics_generated_timestamp_seconds", "gauge",
                  "Unix time when certheal produced these metrics (a textfile that stops changing is stale).");
    out << "certheal_metrics_generated_timestamp_seconds " << unix_seconds(status.generated_at) << '\n';
    return out.str();
}

std::string render_status_endpoint_metrics(const StatusServerCounters& counters, const StatusServerLimits& limits) {
    std::ostringstream out;
    const std::string timeout = format_duration(limits.request_timeout);
    const std::string cap = std::to_string(limits.max_connections);
    metric_header(out, "certheal_status_connections", "gauge",
                  ("Connections the status endpoint holds open now (this scrape included). It holds at most " + cap +
                   "; further clients wait in the kernel's queue until one closes.")
                      .c_str());
    out << "certheal_status_connections " << counters.open_connections << '\n';
    metric_header(out, "certheal_status_requests_timed_out_total", "counter",
                  ("Connections the status endpoint closed because the request and its answer took longer than " +
                   timeout + ".")
                      .c_str());
    out << "certheal_status_requests_timed_out_total " << counters.timed_out << '\n';
    metric_header(out, "certheal_status_accept_errors_total", "counter",
                  "Connections the status endpoint could not accept, mostly because certheal or the system ran out "
                  "of file descriptors or memory. After each it waits before it accepts again.");
    out << "certheal_status_accept_errors_total " << counters.accept_errors << '\n';
    metric_header(out, "certheal_status_accept_paused", "gauge",
                  "1 while the status endpoint waits after an accept error before it accepts again.");
    out << "certheal_status_accept_paused " << (counters.accept_paused ? 1 : 0) << '\n';
    return out.str();
}

namespace {
class Connection;
}  // namespace

struct StatusServer::Impl : std::enable_shared_from_this<StatusServer::Impl> {
    Impl(asio::io_context& io, StatusSource status_source, StatusServerLimits server_limits)
        : acceptor(io), backoff_timer(io), source(std::move(status_source)), limits(server_limits) {
        limits.max_connections = std::max<std::size_t>(limits.max_connections, 1);
        limits.accept_backoff = std::max(limits.accept_backoff, std::chrono::milliseconds(1));
        limits.accept_backoff_max = std::max(limits.accept_backoff_max, limits.accept_backoff);
        next_backoff = limits.accept_backoff;
    }

    // Accepts only below the cap: at the cap, a waiting client stays in the listen queue (no
    // descriptor of ours) until a connection closes and calls this again.
    void accept() {
        if (closed || accepting || backing_off || !acceptor.is_open()) return;
        if (open_connections.load() >= limits.max_connections) return;
        accepting = true;
        acceptor.async_accept([self = shared_from_this()](beast::error_code error, tcp::socket socket) {
            self->on_accept(error, std::move(socket));
        });
    }

    void on_accept(beast::error_code error, tcp::socket socket);
    void back_off();
    void connection_closed();
    StatusServerCounters counters() const {
        StatusServerCounters now;
        now.open_connections = open_connections.load();
        now.peak_connections = peak_connections.load();
        now.accepted = accepted.load();
        now.timed_out = timed_out.load();
        now.accept_errors = accept_errors.load();
        now.accept_paused = accept_paused.load();
        return now;
    }
    void close();

    tcp::acceptor acceptor;
    asio::steady_timer backoff_timer;
    StatusSource source;
    StatusServerLimits limits;
    bool closed = false;
    bool accepting = false;
    bool backing_off = false;
    std::chrono::milliseconds next_backoff;
    std::vector<std::weak_ptr<Connection>> connections;  // to close them in close()

    std::atomic<std::size_t> open_connections{0};
    std::atomic<std::size_t> peak_connections{0};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> timed_out{0};
    std::atomic<std::uint64_t> accept_errors{0};
    std::atomic<bool> accept_paused{false};
};

namespace {

// Answers one request and closes: the endpoint is scraped every few seconds at most, so
// keep-alive would only keep sockets open for nothing. It holds one of the server's slots
// from accept to destruction.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(tcp::socket socket, std::shared_ptr<StatusServer::Impl> server)
        : stream_(std::move(socket)), server_(std::move(server)), buffer_(server_->limits.max_request_header_bytes) {
        parser_.header_limit(server_->limits.max_request_header_bytes);
    }
    ~Connection() { server_->connection_closed(); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start() {
        // One deadline for reading the request and writing the answer: a client that sends
        // nothing, trickles its request or never reads the answer gives its slot back in time.
        stream_.expires_after(server_->limits.request_timeout);
        http::async_read(stream_, buffer_, parser_,
                         [self = shared_from_this()](beast::error_code error, std::size_t) { self->on_read(error); });
    }

    void close() { stream_.close(); }

private:
    void on_read(beast::error_code error) {
        if (error) {  // timeout, garbage, too long or a body: just close
            if (error == beast::error::timeout) ++server_->timed_out;
            return;
        }
        const auto& request = parser_.get();
        response_.version(request.version());
        response_.keep_alive(false);
        response_.set(http::field::server, "certheal");
        // A query string (Prometheus' `params:`) does not change the answer.
        const auto target = request.target();
        const auto path = target.substr(0, target.find('?'));
        const bool head = request.method() == http::verb::head;
        if (path != "/metrics" && path != "/") {
            response_.result(http::status::not_found);
            response_.set(http::field::content_type, "text/plain; charset=utf-8");
            response_.body() = "certheal serves its metrics at GET /metrics.\n";
        } else if (request.method() != http::verb::get && !head) {
            response_.result(http::status::method_not_allowed);
            response_.set(http::field::allow, "GET, HEAD");
            response_.set(http::field::content_type, "text/plain; charset=utf-8");
            response_.body() = "certheal's metrics answer GET and HEAD only.\n";
        } else {
            response_.result(http::status::ok);
            response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
            response_.body() =
                render_metrics(server_->source()) + render_status_endpoint_metrics(server_->counters(), server_->limits);
        }
        response_.prepare_payload();
        if (head) {
            // The headers a GET would get (Content-Length included), without the body.
            const auto length = response_.body().size();
            response_.body().clear();
            response_.content_length(length);
        }
        http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code written, std::size_t) {
            if (written == beast::error::timeout) ++self->server_->timed_out;
            beast::error_code ignored;
            self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        });
    }

    beast::tcp_stream stream_;
    std::shared_ptr<StatusServer::Impl> server_;
    beast::flat_buffer buffer_;
    http::request_parser<http::empty_body> parser_;
    http::response<http::string_body> response_;
};

}  // namespace

void StatusServer::Impl::on_accept(beast::error_code error, tcp::socket socket) {
    accepting = false;
    if (closed || error == asio::error::operation_aborted) return;
    if (error) {
        // Out of descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM): the client stays in
        // the queue and an immediate retry fails the same way, so that would spin the io thread
        // the probes run on. Asio already retries the errors that concern one client only.
        ++accept_errors;
        back_off();
        return;
    }
    next_backoff = limits.accept_backoff;
    ++accepted;
    const auto open = ++open_connections;
    if (open > peak_connections.load()) peak_connections = open;
    auto connection = std::make_shared<Connection>(std::move(socket), shared_from_this());
    std::erase_if(connections, [](const std::weak_ptr<Connection>& held) { return held.expired(); });
    connections.push_back(connection);
    connection->start();
    accept();
}

void StatusServer::Impl::back_off() {
    backing_off = true;
    accept_paused = true;
    backoff_timer.expires_after(next_backoff);
    next_backoff = std::min(next_backoff * 2, limits.accept_backoff_max);
    backoff_timer.async_wait([self = shared_from_this()](beast::error_code) {
        self->backing_off = false;
        self->accept_paused = false;
        self->accept();
    });
}

void StatusServer::Impl::connection_closed() {
    --open_connections;
    accept();
}

void StatusServer::Impl::close() {
    closed = true;
    beast::error_code ignored;
    acceptor.close(ignored);
    backoff_timer.cancel();
    for (const auto& held : connections) {
        if (const auto connection = held.lock()) connection->close();
    }
    connections.clear();
}

StatusServer::StatusServer(asio::io_context& io, StatusSource source, StatusServerLimits limits)
    : impl_(std::make_shared<Impl>(io, std::move(source), limits)) {}

StatusServer::~StatusServer() { close(); }

Result<Done> StatusServer::listen(const ListenAddress& where) {
    beast::error_code error;
    const auto address = asio::ip::make_address(where.address, error);
    if (error) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       "status_listen must be a loopback address and a port, got \"" + where.text() + "\""};
    }
    const tcp::endpoint endpoint(address, where.port);
    auto& acceptor = impl_->acceptor;
    acceptor.open(endpoint.protocol(), error);
    if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
    if (!error) acceptor.bind(endpoint, error);
    if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
    if (error) {
        beast::error_code ignored;
        acceptor.close(ignored);
        return Failure{error, "certheal could not serve its status on " + where.text() + ": " + error.message()};
    }
    impl_->accept();
    return Done{};
}

unsigned short StatusServer::port() const {
    beast::error_code error;
    const auto endpoint = impl_->acceptor.local_endpoint(error);
    return error ? 0 : endpoint.port();
}

StatusServerCounters StatusServer::counters() const { return impl_->counters(); }

void StatusServer::close() { impl_->close(); }

}  // namespace certheal
