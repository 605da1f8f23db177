#pragma once
// The loopback-only status endpoint (service.status_listen): GET /metrics answers the
// monitor's counters and gauges as Prometheus text. One acceptor on the monitor's
// io_context, one short-lived connection at a time per client, no thread of its own.

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "core/config_model.hpp"
#include "core/monitor.hpp"
#include "core/result.hpp"

namespace certheal {

// The Prometheus text exposition of a monitor status.
std::string render_metrics(const MonitorStatus& status);

class StatusServer {
public:
    using StatusSource = std::function<MonitorStatus()>;

    StatusServer(boost::asio::io_context& io, StatusSource source);
    ~StatusServer();
    StatusServer(const StatusServer&) = delete;
    StatusServer& operator=(const StatusServer&) = delete;

    // Binds the address (config validation allows loopback addresses only) and starts
    // accepting. A Failure says why it could not listen (address in use, ...).
    Result<Done> listen(const ListenAddress& where);
    // The port actually bound (useful when the config asks for port 0).
    unsigned short port() const;
    void close();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace certheal
