#include "core/status_server.hpp"

#include <chrono>
#include <sstream>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

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

void metric_header(std::ostringstream& out, const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

// Answers one request and closes: the endpoint is scraped every few seconds at most, so
// keep-alive would only keep sockets open for nothing.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(tcp::socket socket, StatusServer::StatusSource source)
        : stream_(std::move(socket)), source_(std::move(source)) {}

    void start() {
        stream_.expires_after(std::chrono::seconds(5));
        http::async_read(stream_, buffer_, request_,
                         [self = shared_from_this()](beast::error_code error, std::size_t) { self->on_read(error); });
    }

private:
    void on_read(beast::error_code error) {
        if (error) return;  // timeout or garbage: just close
        response_.version(request_.version());
        response_.keep_alive(false);
        response_.set(http::field::server, "certheal");
        if (request_.method() == http::verb::get && (request_.target() == "/metrics" || request_.target() == "/")) {
            response_.result(http::status::ok);
            response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
            response_.body() = render_metrics(source_());
        } else {
            response_.result(http::status::not_found);
            response_.set(http::field::content_type, "text/plain; charset=utf-8");
            response_.body() = "certheal serves its metrics at GET /metrics.\n";
        }
        response_.prepare_payload();
        http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code, std::size_t) {
            beast::error_code ignored;
            self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        });
    }

    beast::tcp_stream stream_;
    StatusServer::StatusSource source_;
    beast::flat_buffer buffer_{8192};
    http::request<http::string_body> request_;
    http::response<http::string_body> response_;
};

}  // namespace

std::string render_metrics(const MonitorStatus& status) {
    std::ostringstream out;
    metric_header(out, "certheal_up", "gauge", "1 while the certheal monitor runs.");
    out << "certheal_up 1\n";

    metric_header(out, "certheal_site_healthy", "gauge", "1 when the site's last probe was healthy.");
    for (const auto& site : status.sites) {
        const bool healthy = site.last_result && site.last_result->cls == ProbeClass::healthy;
        out << "certheal_site_healthy{site=\"" << label(site.name) << "\"} " << (healthy ? 1 : 0) << '\n';
    }
    metric_header(out, "certheal_site_symptom_confirmed", "gauge",
                  "1 while the site has a confirmed client-certificate symptom (an open incident).");
    for (const auto& site : status.sites) {
        out << "certheal_site_symptom_confirmed{site=\"" << label(site.name) << "\"} "
            << (site.symptom_confirmed ? 1 : 0) << '\n';
    }
    metric_header(out, "certheal_probes_total", "counter", "Probes of the site since certheal started.");
    for (const auto& site : status.sites) {
        out << "certheal_probes_total{site=\"" << label(site.name) << "\"} " << site.probes << '\n';
    }
    metric_header(out, "certheal_probe_failures_total", "counter", "Probes of the site that were not healthy.");
    for (const auto& site : status.sites) {
        out << "certheal_probe_failures_total{site=\"" << label(site.name) << "\"} " << site.failed_probes << '\n';
    }
    metric_header(out, "certheal_probe_duration_seconds", "gauge", "Total duration of the site's last probe.");
    for (const auto& site : status.sites) {
        if (!site.last_result) continue;
        out << "certheal_probe_duration_seconds{site=\"" << label(site.name) << "\"} "
            << site.last_result->timings.total_ms / 1000.0 << '\n';
    }

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
    return out.str();
}

struct StatusServer::Impl : std::enable_shared_from_this<StatusServer::Impl> {
    Impl(asio::io_context& io, StatusSource status_source) : acceptor(io), source(std::move(status_source)) {}

    void accept() {
        acceptor.async_accept([self = shared_from_this()](beast::error_code error, tcp::socket socket) {
            if (error == asio::error::operation_aborted || !self->acceptor.is_open()) return;
            if (!error) std::make_shared<Connection>(std::move(socket), self->source)->start();
            self->accept();
        });
    }

    tcp::acceptor acceptor;
    StatusSource source;
};

StatusServer::StatusServer(asio::io_context& io, StatusSource source)
    : impl_(std::make_shared<Impl>(io, std::move(source))) {}

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

void StatusServer::close() {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
}

}  // namespace certheal
