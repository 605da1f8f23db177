#include "service/platform.hpp"

#include <windows.h>
#include <knownfolders.h>
#include <shlobj.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <iostream>
#include <mutex>

#include <boost/asio/post.hpp>

#include "core/base/time_format.hpp"
#include "service/win/certificate_stores.hpp"
#include "service/win/event_log_sink.hpp"
#include "service/win/file_replacer.hpp"
#include "service/win/handles.hpp"
#include "service/win/binding_trust_source.hpp"
#include "service/win/host_trust_inspector.hpp"
#include "service/win/install.hpp"
#include "service/win/own_files.hpp"
#include "service/win/process_runner.hpp"
#include "service/win/schannel_registry.hpp"
#include "service/win/scm_service_manager.hpp"
#include "service/win/store_identities.hpp"
#include "service/win/win_error.hpp"

namespace certheal::platform {
namespace {

// %ProgramData% (C:\ProgramData on a stock install). The known-folder API follows a
// relocated ProgramData; the environment variable is the fallback when the shell API
// cannot answer (a service running before the user profile service, say).
std::filesystem::path program_data() {
    wchar_t* known_folder = nullptr;
    if (SUCCEEDED(::SHGetKnownFolderPath(FOLDERID_ProgramData, KF_FLAG_DEFAULT, nullptr, &known_folder)) &&
        known_folder != nullptr) {
        std::filesystem::path path(known_folder);
        ::CoTaskMemFree(known_folder);
        return path;
    }
    if (known_folder != nullptr) ::CoTaskMemFree(known_folder);

    wchar_t from_environment[MAX_PATH + 1] = {};
    const DWORD length = ::GetEnvironmentVariableW(L"ProgramData", from_environment, MAX_PATH + 1);
    if (length > 0 && length <= MAX_PATH) return std::filesystem::path(from_environment);
    return std::filesystem::path(L"C:\\ProgramData");
}

}  // namespace

std::filesystem::path default_state_dir() { return program_data() / L"certheal"; }

std::filesystem::path default_config_path() { return default_state_dir() / L"certheal.json"; }

ConfigContext config_context() { return {default_state_dir(), /*certificate_stores=*/true, nullptr, "IIS"}; }

std::unique_ptr<CertificateStores> make_certificate_stores() {
    return std::make_unique<win::SystemCertificateStores>();
}

std::unique_ptr<HostTrustInspector> make_host_trust_inspector() {
    return std::make_unique<win::SchannelHostTrustInspector>();
}

std::unique_ptr<ClientIdentitySource> make_client_identities() {
    return std::make_unique<win::StoreClientIdentities>();
}

Adapters make_adapters() {
    Adapters adapters;
    adapters.processes = std::make_unique<win::WinProcessRunner>();
    adapters.services = std::make_unique<win::ScmServiceManager>();
    adapters.system_log = std::make_unique<win::EventLogSink>();
    adapters.certificate_stores = make_certificate_stores();
    adapters.files = std::make_unique<win::WinFileReplacer>();
    adapters.schannel = std::make_unique<win::RegistrySchannelSettings>();
    adapters.host_trust = make_host_trust_inspector();
    adapters.own_files = make_own_files();
    adapters.client_identities = make_client_identities();
    // trust_ca "store": "auto" reads the host as the diagnosis does (both outlive it: it is
    // declared last in Adapters, so it goes first).
    adapters.binding_trust =
        std::make_unique<win::DiagnosedBindingTrust>(*adapters.host_trust, *adapters.certificate_stores);
    return adapters;
}

std::unique_ptr<OwnFiles> make_own_files() { return std::make_unique<win::WinOwnFiles>(); }

std::size_t remove_leftover_temporaries(const std::filesystem::path& folder) {
    return win::remove_leftover_temporaries(folder);
}

namespace {

// The pid file opened for writing without write sharing: a second `run` cannot open it for
// writing (ERROR_SHARING_VIOLATION) while this one holds it; Windows closes the handle, and
// deletes the file, when the process ends however it ends.
struct HeldPidFile {
    win::UniqueHandle handle;
};

std::optional<long long> pid_in(const std::filesystem::path& pid_file) {
    auto opened = win::open_own_file(pid_file, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                     OPEN_EXISTING, "its pid file");
    if (!opened) return std::nullopt;
    char text[32] = {};
    DWORD got = 0;
    if (!::ReadFile(opened.value().get(), text, sizeof text - 1, &got, nullptr)) return std::nullopt;
    long long pid = 0;
    for (DWORD index = 0; index < got && text[index] >= '0' && text[index] <= '9' && pid < 100'000'000; ++index) {
        pid = pid * 10 + (text[index] - '0');
    }
    return pid > 0 ? std::optional<long long>(pid) : std::nullopt;
}

}  // namespace

Result<StateFolderLock> lock_state_folder(const std::filesystem::path& state_dir) {
    const auto pid_file = state_dir / L"certheal.pid";
    auto opened = win::open_own_file(pid_file, GENERIC_READ | GENERIC_WRITE | DELETE, FILE_SHARE_READ, OPEN_ALWAYS,
                                     "its pid file", FILE_FLAG_DELETE_ON_CLOSE);
    if (!opened) {
        if (opened.error().code.category() == std::system_category() &&
            opened.error().code.value() == ERROR_SHARING_VIOLATION) {
            StateFolderLock lock;
            lock.running_pid = pid_in(pid_file).value_or(0);
            return lock;
        }
        return opened.error();
    }
    const std::string text = std::to_string(::GetCurrentProcessId()) + "\r\n";
    DWORD written = 0;
    if (!::SetEndOfFile(opened.value().get()) ||
        !::WriteFile(opened.value().get(), text.data(), static_cast<DWORD>(text.size()), &written, nullptr) ||
        written != text.size() || !::FlushFileBuffers(opened.value().get())) {
        return win::last_error_failure("certheal could not write its pid to " + win::to_utf8(pid_file.wstring()));
    }
    StateFolderLock lock;
    lock.held = std::make_shared<HeldPidFile>(HeldPidFile{std::move(opened.value())});
    return lock;
}

// --- console controls ------------------------------------------------------------------------

namespace {

// SetConsoleCtrlHandler takes a plain function and calls it on a thread of its own: the
// watch it reports to is a process-wide slot.
struct ConsoleWatch {
    boost::asio::io_context* io = nullptr;
    std::function<void(ControlRequest, std::string)> handler;
};
std::mutex g_console_mutex;
std::shared_ptr<ConsoleWatch> g_console_watch;

BOOL WINAPI on_console_control(DWORD control) {
    const char* reason = nullptr;
    switch (control) {
        case CTRL_C_EVENT: reason = "Ctrl+C"; break;
        case CTRL_BREAK_EVENT: reason = "Ctrl+Break"; break;
        case CTRL_CLOSE_EVENT: reason = "the console window was closed"; break;
        case CTRL_SHUTDOWN_EVENT: reason = "Windows is shutting down"; break;
        default: return FALSE;
    }
    std::shared_ptr<ConsoleWatch> watch;
    {
        std::lock_guard lock(g_console_mutex);
        watch = g_console_watch;
    }
    if (!watch) return FALSE;
    boost::asio::post(*watch->io, [watch, reason] { watch->handler(ControlRequest::stop, reason); });
    return TRUE;
}

struct ConsoleRegistration {
    ~ConsoleRegistration() {
        ::SetConsoleCtrlHandler(on_console_control, FALSE);
        std::lock_guard lock(g_console_mutex);
        g_console_watch.reset();
    }
};

}  // namespace

std::shared_ptr<void> watch_console_controls(boost::asio::io_context& io,
                                             std::function<void(ControlRequest, std::string reason)> handler) {
    {
        std::lock_guard lock(g_console_mutex);
        g_console_watch = std::make_shared<ConsoleWatch>(ConsoleWatch{&io, std::move(handler)});
    }
    ::SetConsoleCtrlHandler(on_console_control, TRUE);
    return std::make_shared<ConsoleRegistration>();
}

// --- operator controls: the running service, resume (the locks: named_mutex_locks.cpp) -------

namespace {

constexpr const wchar_t* kServiceName = L"certheal";

}  // namespace

long long current_process_id() { return static_cast<long long>(::GetCurrentProcessId()); }

// The Windows heap decommits free pages by itself; HeapCompact also coalesces what it can.
void release_free_memory() noexcept { ::HeapCompact(::GetProcessHeap(), 0); }

std::optional<RunningService> find_running_service(const std::filesystem::path&) {
    win::ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!manager) return std::nullopt;
    win::ScHandle service(::OpenServiceW(manager.get(), kServiceName, SERVICE_QUERY_STATUS));
    if (!service) return std::nullopt;
    SERVICE_STATUS_PROCESS status{};
    DWORD needed = 0;
    if (!::QueryServiceStatusEx(service.get(), SC_STATUS_PROCESS_INFO, reinterpret_cast<LPBYTE>(&status), sizeof status,
                                &needed)) {
        return std::nullopt;
    }
    if (status.dwCurrentState != SERVICE_RUNNING) return std::nullopt;
    return RunningService{static_cast<long long>(status.dwProcessId), "the Service Control Manager"};
}

namespace {

// Sends the service certheal one of its user-defined controls; the sentences say which.
Result<Done> send_service_control(DWORD control, const char* cannot_open, const char* cannot_send) {
    win::ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!manager) return win::last_error_failure("certheal could not open the Service Control Manager");
    win::ScHandle service(::OpenServiceW(manager.get(), kServiceName, SERVICE_USER_DEFINED_CONTROL));
    if (!service) return win::last_error_failure(cannot_open);
    SERVICE_STATUS status{};
    if (!::ControlService(service.get(), control, &status)) return win::last_error_failure(cannot_send);
    return success();
}

}  // namespace

Result<Done> ask_service_to_resume(const RunningService&) {
    return send_service_control(
        static_cast<DWORD>(kResumeControlCode),
        "certheal could not open the service certheal to send it the resume control (only administrators may)",
        "certheal could not send the resume control to the service certheal");
}

Result<Done> ask_service_to_reread_pauses(const RunningService&) {
    return send_service_control(
        static_cast<DWORD>(kPauseChangedControlCode),
        "certheal could not open the service certheal to tell it about the pause (only administrators may)",
        "certheal could not send the pause control to the service certheal");
}

std::string current_user_name() {
    wchar_t name[257] = {};
    DWORD size = 257;
    if (!::GetUserNameW(name, &size) || size == 0) return "an unknown user";
    return win::to_utf8(std::wstring_view(name, size - 1));
}

// --- install / uninstall ------------------------------------------------------------------------
// service/win/install.cpp does the work; this is the platform port's entry.

int install_service(const std::filesystem::path& config) {
    return win::install_service(win::default_install_plan(config), std::cout, std::cerr);
}

int uninstall_service() {
    return win::uninstall_service(win::default_install_plan(default_config_path()), std::cout, std::cerr);
}

int configure_service_after_msi() {
    const auto plan = win::default_install_plan(default_config_path());
    std::ostringstream out;
    std::ostringstream err;
    const int exit_code = win::configure_installed_service(plan, out, err);
    std::cout << out.str();
    std::cerr << err.str();
    // msiexec shows nothing an EXE custom action prints: the data folder keeps it (the MSI
    // created the folder, protected, before this action runs).
    const auto log = plan.data_folder / win::kMsiLogName;
    std::ofstream file(log, std::ios::app | std::ios::binary);
    file << format_time_utc(std::chrono::system_clock::now()) << " certheal " CERTHEAL_VERSION
         << " install --msi-postinstall (exit code " << exit_code << ")\r\n";
    std::istringstream lines(out.str() + err.str());
    for (std::string line; std::getline(lines, line);) file << line << "\r\n";
    if (!file) std::cerr << "certheal could not write " << win::to_utf8(log.wstring()) << ".\n";
    return exit_code;
}

}  // namespace certheal::platform
