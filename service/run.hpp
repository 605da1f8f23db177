#pragma once
// `certheal run`: the composition root. Wires the config, the platform adapters and the
// core into one monitor on one io_context, and runs it until it is asked to stop.
// The same code runs in the console and under a service manager; the host says which.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "service/platform.hpp"

namespace certheal {

// How the monitor talks to whatever launched it: the console, or the Windows SCM.
class MonitorHost {
public:
    virtual ~MonitorHost() = default;
    // Progress while the config is validated and the monitor starts (START_PENDING checkpoints).
    virtual void starting() {}
    // The config validated and the monitor runs (SERVICE_RUNNING).
    virtual void running() {}
    // A stop was requested; a repair step may still be finishing (STOP_PENDING checkpoints).
    virtual void stopping() {}
    // Starts delivering stop/reload requests to `handler` on the io_context's thread.
    // The returned object keeps the delivery alive.
    virtual std::shared_ptr<void> attach(boost::asio::io_context& io,
                                         std::function<void(platform::ControlRequest, std::string)> handler) = 0;
    // Whether events are also echoed on stderr for a person watching.
    virtual bool echo_events() const { return false; }
};

class ConsoleHost : public MonitorHost {
public:
    std::shared_ptr<void> attach(boost::asio::io_context& io,
                                 std::function<void(platform::ControlRequest, std::string)> handler) override {
        return platform::watch_console_controls(io, std::move(handler));
    }
    bool echo_events() const override { return true; }
};

// Returns the process exit code (cli::ExitCode values).
int run_monitor(const std::filesystem::path& config_path, MonitorHost& host);

}  // namespace certheal
