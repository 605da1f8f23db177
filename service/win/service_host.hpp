#pragma once
// `certheal run` under the Windows Service Control Manager.
//
// ScmHost is the MonitorHost that reports the service's state to the SCM and turns its
// controls into the monitor's stop/reload requests. The control handler runs on a thread of
// the SCM dispatcher: it only queues the request onto the monitor's io_context and returns at
// once, so a repair step in progress is finished or abandoned by the monitor itself.

#include <windows.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "service/run.hpp"

namespace certheal::win {

class ScmHost final : public MonitorHost {
public:
    // Receives every status certheal reports (SetServiceStatus in the service; a recorder in tests).
    // It is called with the host's lock held, from the monitor's thread or the stop ticker.
    using StatusReporter = std::function<void(const SERVICE_STATUS&)>;

    static constexpr DWORD kAcceptedControls =
        SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PRESHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE;
    static constexpr DWORD kStartWaitHintMs = 30'000;
    static constexpr DWORD kStopWaitHintMs = 10'000;

    explicit ScmHost(StatusReporter reporter, std::chrono::milliseconds stop_tick = std::chrono::seconds(1));
    ~ScmHost() override;
    ScmHost(const ScmHost&) = delete;
    ScmHost& operator=(const ScmHost&) = delete;

    void starting() override;  // START_PENDING, next checkpoint
    void running() override;   // RUNNING, accepting kAcceptedControls
    void stopping() override;  // STOP_PENDING; a ticker bumps the checkpoint until stopped()
    // STOPPED. exit_code 0 is a clean stop; any other cli exit code is reported as
    // ERROR_SERVICE_SPECIFIC_ERROR with dwServiceSpecificExitCode = exit_code.
    void stopped(int exit_code);

    std::shared_ptr<void> attach(boost::asio::io_context& io,
                                 std::function<void(platform::ControlRequest, std::string)> handler) override;

    // The body of the HandlerEx callback: NO_ERROR for a control certheal handles (queued for
    // the monitor, or kept until attach() when the monitor is not listening yet),
    // ERROR_CALL_NOT_IMPLEMENTED otherwise. Never blocks on the monitor.
    DWORD on_control(DWORD control);

    SERVICE_STATUS last_status() const;

private:
    struct Pending {
        platform::ControlRequest request;
        std::string reason;
    };
    void report_locked(DWORD state, DWORD wait_hint_ms, DWORD win32_exit = NO_ERROR, DWORD specific_exit = 0);
    void deliver_locked(Pending pending);
    void detach();
    void stop_ticker();

    StatusReporter reporter_;
    std::chrono::milliseconds stop_tick_;
    mutable std::mutex mutex_;
    SERVICE_STATUS status_{};
    boost::asio::io_context* io_ = nullptr;
    std::function<void(platform::ControlRequest, std::string)> handler_;
    std::vector<Pending> pending_;
    std::condition_variable ticker_wakeup_;
    bool ticker_should_end_ = false;
    std::thread ticker_;
};

// Runs `certheal run --config <config>` as the service the SCM launched this process for.
// Returns std::nullopt when the process was not started by the SCM
// (ERROR_FAILED_SERVICE_CONTROLLER_CONNECT): the caller then runs in the console.
// Otherwise returns the process exit code once the service has reported STOPPED.
std::optional<int> run_as_service(const std::filesystem::path& config);

}  // namespace certheal::win
