#pragma once
// The loopback-only status endpoint (service.status_listen): GET /metrics answers the
// monitor's counters and gauges as Prometheus text. One acceptor on the monitor's
// io_context, one short-lived connection at a time per client, no thread of its own.
//
// It shares the process's file descriptors with the probes, so anyone on the host who can
// connect to it must never be able to take the sockets a probe needs. It therefore holds at
// most max_connections + 1 descriptors (the listening socket and the connections it
// serves): at the cap it stops accepting and further clients wait in the kernel's listen
// queue, which costs certheal no descriptor. Each connection gets one request and
// request_timeout for all of it. When accepting fails because the process or the system is
// out of descriptors or memory, it waits (accept_backoff, doubling up to accept_backoff_max)
// before it tries again, rather than retrying a failure that would only repeat.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "core/model/config_model.hpp"
#include "core/policy/monitor.hpp"
#include "core/base/result.hpp"

namespace certheal {

// What certheal does about a confirmed symptom, as certheal_remediation_mode{mode} shows it.
// paused: `certheal pause` holds every repair of the host (a pause of one site shows in
// certheal_site_paused instead).
enum class RemediationMode { enabled, dry_run, disabled, paused };
inline constexpr RemediationMode kAllRemediationModes[] = {RemediationMode::enabled, RemediationMode::dry_run,
                                                           RemediationMode::disabled, RemediationMode::paused};
std::string_view to_string(RemediationMode mode) noexcept;
RemediationMode remediation_mode(const MonitorStatus& status) noexcept;

// The Prometheus text exposition of a monitor status.
std::string render_metrics(const MonitorStatus& status);

struct StatusServerLimits {
    std::size_t max_connections = 16;
    // For the whole exchange, from accept to the last byte of the answer.
    std::chrono::milliseconds request_timeout{10'000};
    std::uint32_t max_request_header_bytes = 8 * 1024;
    std::chrono::milliseconds accept_backoff{1'000};
    std::chrono::milliseconds accept_backoff_max{10'000};
};

// What the endpoint itself has been through, for its own lines on the metrics page.
struct StatusServerCounters {
    std::size_t open_connections = 0;
    std::size_t peak_connections = 0;     // the most open at once since listen()
    std::uint64_t accepted = 0;
    std::uint64_t timed_out = 0;          // closed for not finishing within request_timeout
    std::uint64_t accept_errors = 0;      // accepts that failed (out of descriptors, memory, ...)
    bool accept_paused = false;           // waiting after an accept error
};

// The endpoint's own lines of the metrics page.
std::string render_status_endpoint_metrics(const StatusServerCounters& counters, const StatusServerLimits& limits);

class StatusServer {
public:
    using StatusSource = std::function<MonitorStatus()>;

    StatusServer(boost::asio::io_context& io, StatusSource source, StatusServerLimits limits = {});
    ~StatusServer();
    StatusServer(const StatusServer&) = delete;
    StatusServer& operator=(const StatusServer&) = delete;

    // Binds the address (config validation allows loopback addresses only) and starts
    // accepting. A Failure says why it could not listen (address in use, ...).
    Result<Done> listen(const ListenAddress& where);
    // The port actually bound (useful when the config asks for port 0).
    unsigned short port() const;
    // Safe from any thread: the values are kept in atomics.
    StatusServerCounters counters() const;
    // Stops accepting and closes the connections being served. Call it on the io_context's
    // thread (or when nothing runs the io_context).
    void close();

    struct Impl;  // public only so the connections in the .cpp can name it

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace certheal
