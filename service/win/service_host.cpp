#include "service/win/service_host.hpp"

#include <iostream>

#include <boost/asio/post.hpp>

#include "core/model/events.hpp"
#include "service/exit_code.hpp"
#include "service/win/event_log_sink.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {

ScmHost::ScmHost(StatusReporter reporter, std::chrono::milliseconds stop_tick)
    : reporter_(std::move(reporter)), stop_tick_(stop_tick) {
    status_.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status_.dwCurrentState = SERVICE_START_PENDING;
}

ScmHost::~ScmHost() { stop_ticker(); }

void ScmHost::report_locked(DWORD state, DWORD wait_hint_ms, DWORD win32_exit, DWORD specific_exit) {
    const bool pending = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
    // The checkpoint counts progress within one pending state; it restarts with each state.
    status_.dwCheckPoint = pending ? (status_.dwCurrentState == state ? status_.dwCheckPoint + 1 : 1) : 0;
    status_.dwCurrentState = state;
    status_.dwWaitHint = pending ? wait_hint_ms : 0;
    // Controls arriving in a pending state would only be queued; the SCM is told the truth.
    status_.dwControlsAccepted = state == SERVICE_RUNNING ? kAcceptedControls : 0;
    status_.dwWin32ExitCode = win32_exit;
    status_.dwServiceSpecificExitCode = specific_exit;
    if (reporter_) reporter_(status_);
}

void ScmHost::starting() {
    std::lock_guard lock(mutex_);
    report_locked(SERVICE_START_PENDING, kStartWaitHintMs);
}

void ScmHost::running() {
    std::lock_guard lock(mutex_);
    if (status_.dwCurrentState == SERVICE_STOP_PENDING) return;  // a stop came first: never go back
    report_locked(SERVICE_RUNNING, 0);
}

void ScmHost::stopping() {
    std::lock_guard lock(mutex_);
    if (status_.dwCurrentState == SERVICE_STOP_PENDING || status_.dwCurrentState == SERVICE_STOPPED) return;
    report_locked(SERVICE_STOP_PENDING, kStopWaitHintMs);
    // A repair step may take a while to finish or abandon: keep showing progress so the SCM
    // (and `net stop`) waits instead of declaring the service hung.
    ticker_should_end_ = false;
    ticker_ = std::thread([this] {
        std::unique_lock ticker_lock(mutex_);
        while (!ticker_wakeup_.wait_for(ticker_lock, stop_tick_, [this] { return ticker_should_end_; })) {
            if (status_.dwCurrentState != SERVICE_STOP_PENDING) break;
            report_locked(SERVICE_STOP_PENDING, kStopWaitHintMs);
        }
    });
}

void ScmHost::stop_ticker() {
    {
        std::lock_guard lock(mutex_);
        ticker_should_end_ = true;
    }
    ticker_wakeup_.notify_all();
    if (ticker_.joinable()) ticker_.join();
}

void ScmHost::stopped(int exit_code) {
    stop_ticker();
    std::lock_guard lock(mutex_);
    if (exit_code == 0) {
        report_locked(SERVICE_STOPPED, 0);
    } else {
        report_locked(SERVICE_STOPPED, 0, ERROR_SERVICE_SPECIFIC_ERROR, static_cast<DWORD>(exit_code));
    }
}

SERVICE_STATUS ScmHost::last_status() const {
    std::lock_guard lock(mutex_);
    return status_;
}

void ScmHost::deliver_locked(Pending pending) {
    auto handler = handler_;
    boost::asio::post(*io_, [handler = std::move(handler), pending = std::move(pending)] {
        handler(pending.request, pending.reason);
    });
}

DWORD ScmHost::on_control(DWORD control) {
    Pending pending{platform::ControlRequest::stop, ""};
    switch (control) {
        case SERVICE_CONTROL_STOP: pending.reason = "SCM STOP"; break;
        case SERVICE_CONTROL_SHUTDOWN: pending.reason = "SCM SHUTDOWN (Windows is shutting down)"; break;
        case SERVICE_CONTROL_PRESHUTDOWN: pending.reason = "SCM PRESHUTDOWN (Windows is shutting down)"; break;
        case SERVICE_CONTROL_PARAMCHANGE:
            pending = {platform::ControlRequest::reload, "SCM PARAMCHANGE"};
            break;
        case SERVICE_CONTROL_INTERROGATE: return NO_ERROR;
        case platform::kResumeControlCode:
            pending = {platform::ControlRequest::resume, "certheal resume, sent as SCM control 200"};
            break;
        case platform::kPauseChangedControlCode:
            pending = {platform::ControlRequest::pause_changed, "certheal pause or unpause, sent as SCM control 201"};
            break;
        default: return ERROR_CALL_NOT_IMPLEMENTED;
    }
    std::lock_guard lock(mutex_);
    if (io_ == nullptr) {
        pending_.push_back(std::move(pending));  // the monitor is not listening yet
    } else {
        deliver_locked(std::move(pending));
    }
    return NO_ERROR;
}

std::shared_ptr<void> ScmHost::attach(boost::asio::io_context& io,
                                      std::function<void(platform::ControlRequest, std::string)> handler) {
    std::lock_guard lock(mutex_);
    io_ = &io;
    handler_ = std::move(handler);
    for (auto& pending : pending_) deliver_locked(std::move(pending));
    pending_.clear();
    // Letting go of the returned object detaches: later controls wait for the next attach().
    return std::shared_ptr<void>(static_cast<void*>(this), [](void* self) { static_cast<ScmHost*>(self)->detach(); });
}

void ScmHost::detach() {
    std::lock_guard lock(mutex_);
    io_ = nullptr;
    handler_ = nullptr;
}

// --- the SCM's entry points ------------------------------------------------------------------

namespace {

// The dispatcher calls plain functions: what they share lives here, for the process's life.
std::filesystem::path g_config;
std::unique_ptr<ScmHost> g_host;
int g_exit_code = cli::runtime_failure;

DWORD WINAPI on_service_control(DWORD control, DWORD, void*, void* context) {
    return static_cast<ScmHost*>(context)->on_control(control);
}

void report_crash(const std::string& what) {
    Event event;
    event.id = EventId::service_stopped;
    event.time = std::chrono::system_clock::now();
    event.message = "certheal stopped after an unexpected failure: " + what +
                    ". The Service Control Manager restarts it per its recovery actions; the journal has the "
                    "events before the failure.";
    event.details = {{"reason", what}};
    EventLogSink().emit(event);
}

void WINAPI service_main(DWORD argc, wchar_t** argv) {
    // An own-process service gets its real name as argv[0], whatever the dispatch table said.
    const std::wstring name = argc > 0 && argv[0] != nullptr ? argv[0] : L"certheal";
    SERVICE_STATUS_HANDLE status_handle = nullptr;
    g_host = std::make_unique<ScmHost>([&status_handle](const SERVICE_STATUS& status) {
        if (status_handle != nullptr) ::SetServiceStatus(status_handle, const_cast<SERVICE_STATUS*>(&status));
    });
    status_handle = ::RegisterServiceCtrlHandlerExW(name.c_str(), on_service_control, g_host.get());
    if (status_handle == nullptr) {
        report_crash(last_error_failure("RegisterServiceCtrlHandlerExW(" + to_utf8(name) + ")").message);
        g_exit_code = cli::runtime_failure;
        return;
    }
    g_host->starting();
    try {
        g_exit_code = run_monitor(g_config, *g_host);
    } catch (const std::exception& error) {
        report_crash(error.what());
        g_exit_code = cli::runtime_failure;
    }
    g_host->stopped(g_exit_code);
}

}  // namespace

std::optional<int> run_as_service(const std::filesystem::path& config) {
    g_config = config;
    wchar_t name[] = L"certheal";
    SERVICE_TABLE_ENTRYW table[] = {{name, service_main}, {nullptr, nullptr}};
    if (::StartServiceCtrlDispatcherW(table)) return g_exit_code;
    const DWORD error = ::GetLastError();
    if (error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) return std::nullopt;
    std::cerr << win32_failure(error, "certheal could not connect to the Service Control Manager").message << '\n';
    return cli::runtime_failure;
}

}  // namespace certheal::win
