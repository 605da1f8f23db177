#include "service/platform.hpp"

#include <windows.h>
#include <aclapi.h>
#include <knownfolders.h>
#include <sddl.h>
#include <shlobj.h>

#include <atomic>
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

// --- who may change the config -----------------------------------------------------------

struct LocalFreeDeleter {
    void operator()(void* memory) const noexcept { ::LocalFree(memory); }
};

std::string account_name(PSID sid) {
    wchar_t name[256];
    wchar_t domain[256];
    DWORD name_size = 256;
    DWORD domain_size = 256;
    SID_NAME_USE use{};
    if (::LookupAccountSidW(nullptr, sid, name, &name_size, domain, &domain_size, &use)) {
        const std::wstring full = domain_size > 0 && domain[0] != L'\0' ? std::wstring(domain) + L"\\" + name : name;
        return win::to_utf8(full);
    }
    wchar_t* text = nullptr;
    if (::ConvertSidToStringSidW(sid, &text)) {
        std::unique_ptr<void, LocalFreeDeleter> owned(text);
        return win::to_utf8(text);
    }
    return "an unknown account";
}

bool is_process_user(PSID sid) {
    HANDLE raw_token = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &raw_token)) return false;
    win::UniqueHandle token(raw_token);
    alignas(TOKEN_USER) BYTE buffer[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
    DWORD size = 0;
    if (!::GetTokenInformation(token.get(), TokenUser, buffer, sizeof(buffer), &size)) return false;
    return ::EqualSid(reinterpret_cast<TOKEN_USER*>(buffer)->User.Sid, sid) != FALSE;
}

// The owner this process gives the objects it creates (an elevated administrator's token:
// Administrators; SYSTEM's: SYSTEM; Wine's: its own "None" group, S-1-5-21-0-0-0-513).
bool is_process_default_owner(PSID sid) {
    HANDLE raw_token = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &raw_token)) return false;
    win::UniqueHandle token(raw_token);
    alignas(TOKEN_OWNER) BYTE buffer[sizeof(TOKEN_OWNER) + SECURITY_MAX_SID_SIZE];
    DWORD size = 0;
    if (!::GetTokenInformation(token.get(), TokenOwner, buffer, sizeof(buffer), &size)) return false;
    return ::EqualSid(reinterpret_cast<TOKEN_OWNER*>(buffer)->Owner, sid) != FALSE;
}

// SYSTEM, Administrators, TrustedInstaller and the account certheal runs as may change it.
bool is_trusted(PSID sid) {
    if (::IsWellKnownSid(sid, WinLocalSystemSid) || ::IsWellKnownSid(sid, WinBuiltinAdministratorsSid)) return true;
    PSID trusted_installer = nullptr;
    if (::ConvertStringSidToSidW(L"S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464",
                                 &trusted_installer)) {
        std::unique_ptr<void, LocalFreeDeleter> owned(trusted_installer);
        if (::EqualSid(sid, trusted_installer)) return true;
    }
    return is_process_user(sid);
}

// Rights that let someone replace the file's contents, or swap the file in its folder.
constexpr ACCESS_MASK kWriteRights = FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_DELETE_CHILD | DELETE | WRITE_DAC |
                                     WRITE_OWNER | GENERIC_WRITE | GENERIC_ALL;

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

}  // namespace certheal::platform

namespace certheal::win {

std::optional<std::string> write_protection_problem(const std::filesystem::path& path) {
    PSID owner = nullptr;
    PACL dacl = nullptr;
    PSECURITY_DESCRIPTOR raw_descriptor = nullptr;
    const DWORD status =
        ::GetNamedSecurityInfoW(path.c_str(), SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                                &owner, nullptr, &dacl, nullptr, &raw_descriptor);
    if (status == ERROR_FILE_NOT_FOUND || status == ERROR_PATH_NOT_FOUND) return std::nullopt;  // said elsewhere
    const std::string shown = win::to_utf8(path.wstring());
    if (status != ERROR_SUCCESS) {
        return "certheal could not read who may change " + shown + " (" + win::system_message(status) + ")";
    }
    std::unique_ptr<void, platform::LocalFreeDeleter> descriptor(raw_descriptor);
    if (owner != nullptr && !platform::is_trusted(owner)) {
        return shown + " is owned by " + platform::account_name(owner) +
               ", not by Administrators, SYSTEM or the account certheal runs as";
    }
    if (dacl == nullptr) return shown + " has no access control list, so every user can change it";
    for (DWORD index = 0; index < dacl->AceCount; ++index) {
        void* raw_ace = nullptr;
        if (!::GetAce(dacl, index, &raw_ace)) continue;
        const auto* header = static_cast<const ACE_HEADER*>(raw_ace);
        if (header->AceType != ACCESS_ALLOWED_ACE_TYPE || (header->AceFlags & INHERIT_ONLY_ACE) != 0) continue;
        auto* ace = static_cast<ACCESS_ALLOWED_ACE*>(raw_ace);
        PSID who = reinterpret_cast<PSID>(&ace->SidStart);
        if ((ace->Mask & platform::kWriteRights) != 0 && !platform::is_trusted(who)) {
            return shown + " can be changed by " + platform::account_name(who) +
                   "; only Administrators and SYSTEM should be able to write it";
        }
    }
    return std::nullopt;
}

}  // namespace certheal::win

namespace certheal::platform {

std::optional<std::string> config_write_protection_problem(const std::filesystem::path& config) {
    // The file and the folder holding it: whoever can write either can swap the config.
    const std::filesystem::path paths[] = {config, config.has_parent_path() ? config.parent_path() : "."};
    for (const auto& path : paths) {
        if (auto problem = win::write_protection_problem(path)) return problem;
    }
    return std::nullopt;
}

std::optional<std::string> folder_protection_problem(const std::filesystem::path& folder, std::string_view what) {
    // The nearest folder that exists: whoever may change it may create (or swap) the rest.
    std::error_code error;
    auto existing = std::filesystem::absolute(folder, error);
    while (!existing.empty() && !std::filesystem::exists(existing, error) && existing.has_parent_path() &&
           existing.parent_path() != existing) {
        existing = existing.parent_path();
    }
    if (auto problem = win::write_protection_problem(existing)) {
        return std::string(what) + " " + win::to_utf8(folder.wstring()) + " is not protected: " + *problem;
    }
    return std::nullopt;
}

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

// --- operator controls: the repair lock, the running service, resume -------------------------

namespace {

// A named mutex in the Global namespace, so the service (session 0) and `certheal repair` in an
// administrator's session see the same one. Windows releases it (abandoned) when the holder
// dies, so a crashed repair never leaves the host locked; WAIT_ABANDONED hands it to us.
//
// Windows facts this class deals with:
// - A mutex is owned by a thread and is recursive: a second WaitForSingleObject in the owning
//   thread succeeds again, and only the owning thread can ReleaseMutex it. The port promises a
//   lock that is not re-entrant, taken and released on one thread: a process-wide flag refuses
//   a second holder in this process, and release() happens on the thread that took it.
// - Anyone may create a named mutex in Global\ first. certheal creates it readable and usable
//   by SYSTEM and Administrators only, and when it already exists checks that its owner is
//   SYSTEM, Administrators (or the account certheal runs as): a mutex another user created
//   first (to block repairs, say) is refused as a lock that cannot be made.
constexpr const wchar_t* kRepairLockName = L"Global\\certheal-repair";
constexpr const wchar_t* kRepairLockSddl = L"D:P(A;;GA;;;SY)(A;;GA;;;BA)";
std::atomic<bool> g_repair_lock_held_in_process{false};
// The state lock (see make_state_lock) is the same kind of mutex under another name.
constexpr const wchar_t* kStateLockName = L"Global\\certheal-state";
std::atomic<bool> g_state_lock_held_in_process{false};

class NamedMutexRepairLock : public RepairLock {
public:
    // `what` names the lock in messages: "repair lock Global\certheal-repair".
    NamedMutexRepairLock(const wchar_t* name, std::string what, std::atomic<bool>& held_in_process)
        : name_(name), what_(std::move(what)), held_in_process_(held_in_process) {}

    Result<bool> try_acquire() override {
        if (held_) return true;
        if (!mutex_) {
            if (auto opened = open_mutex(); !opened) return opened.error();
        }
        const DWORD waited = ::WaitForSingleObject(mutex_.get(), 0);
        if (waited == WAIT_TIMEOUT) return false;
        if (waited != WAIT_OBJECT_0 && waited != WAIT_ABANDONED) {
            return win::last_error_failure("certheal could not take its " + what_);
        }
        if (held_in_process_.exchange(true)) {
            // This thread already held it through another lock object: the wait only counted
            // up the recursion. Give that count back; the other holder keeps the lock.
            ::ReleaseMutex(mutex_.get());
            return false;
        }
        held_ = true;
        return true;
    }

    void release() noexcept override {
        if (!held_) return;
        ::ReleaseMutex(mutex_.get());
        held_in_process_ = false;
        held_ = false;
    }

    ~NamedMutexRepairLock() override { release(); }
    NamedMutexRepairLock(const NamedMutexRepairLock&) = delete;
    NamedMutexRepairLock& operator=(const NamedMutexRepairLock&) = delete;

private:
    Result<Done> open_mutex() {
        PSECURITY_DESCRIPTOR raw_descriptor = nullptr;
        if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(kRepairLockSddl, SDDL_REVISION_1, &raw_descriptor,
                                                                    nullptr)) {
            return win::last_error_failure("certheal could not build the access rules of its repair lock");
        }
        std::unique_ptr<void, LocalFreeDeleter> descriptor(raw_descriptor);
        SECURITY_ATTRIBUTES attributes{sizeof(attributes), descriptor.get(), FALSE};
        win::UniqueHandle mutex(::CreateMutexW(&attributes, FALSE, name_));
        if (!mutex) {
            const DWORD error = ::GetLastError();
            auto failure = win::win32_failure(error, "certheal could not open its " + what_);
            if (error == ERROR_ACCESS_DENIED) {
                failure.message += " Run it from an elevated prompt (Run as administrator)";
            }
            return failure;
        }
        if (::GetLastError() == ERROR_ALREADY_EXISTS) {
            PSID owner = nullptr;
            PSECURITY_DESCRIPTOR raw_existing = nullptr;
            const DWORD read = ::GetSecurityInfo(mutex.get(), SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &owner,
                                                 nullptr, nullptr, nullptr, &raw_existing);
            std::unique_ptr<void, LocalFreeDeleter> existing(raw_existing);
            if (read != ERROR_SUCCESS) {
                return win::win32_failure(read, "certheal could not read who created its " + what_);
            }
            // Windows gives every named object an owner; Wine 8 gives none to one created
            // without a security descriptor, and there is nobody to check then.
            if (owner != nullptr && !is_trusted(owner) && !is_process_default_owner(owner)) {
                return Failure{std::make_error_code(std::errc::permission_denied),
                               "certheal does not use its " + what_ + ": " +
                                   account_name(owner) +
                                   " created it, not SYSTEM or Administrators (someone may be keeping repairs from "
                                   "running)"};
            }
        }
        mutex_ = std::move(mutex);
        return success();
    }

    const wchar_t* name_;
    std::string what_;
    std::atomic<bool>& held_in_process_;
    win::UniqueHandle mutex_;
    bool held_ = false;
};

// Held for the milliseconds of one read-merge-write of state.json: the mutex is tried again
// every few milliseconds until `wait` has passed (a mutex owned by a thread cannot be waited
// for with a timeout and still refuse a second holder in this process, see above).
class NamedMutexStateLock : public StateLock {
public:
    NamedMutexStateLock() : lock_(kStateLockName, "state lock Global\\certheal-state", g_state_lock_held_in_process) {}
    Result<bool> acquire(Duration wait) override {
        const auto deadline = std::chrono::steady_clock::now() + wait;
        for (;;) {
            auto taken = lock_.try_acquire();
            if (!taken || taken.value()) return taken;
            if (std::chrono::steady_clock::now() >= deadline) return false;
            ::Sleep(5);
        }
    }
    void release() noexcept override { lock_.release(); }

private:
    NamedMutexRepairLock lock_;
};

constexpr const wchar_t* kServiceName = L"certheal";

}  // namespace

std::unique_ptr<RepairLock> make_repair_lock(const std::filesystem::path&) {
    return std::make_unique<NamedMutexRepairLock>(kRepairLockName, "repair lock Global\\certheal-repair",
                                                  g_repair_lock_held_in_process);
}

std::unique_ptr<StateLock> make_state_lock(const std::filesystem::path&) {
    return std::make_unique<NamedMutexStateLock>();
}

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

Result<Done> ask_service_to_resume(const RunningService&) {
    win::ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!manager) return win::last_error_failure("certheal could not open the Service Control Manager");
    win::ScHandle service(::OpenServiceW(manager.get(), kServiceName, SERVICE_USER_DEFINED_CONTROL));
    if (!service) {
        return win::last_error_failure(
            "certheal could not open the service certheal to send it the resume control (only administrators may)");
    }
    SERVICE_STATUS status{};
    if (!::ControlService(service.get(), static_cast<DWORD>(kResumeControlCode), &status)) {
        return win::last_error_failure("certheal could not send the resume control to the service certheal");
    }
    return success();
}

Result<Done> ask_service_to_reread_pauses(const RunningService&) {
    win::ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!manager) return win::last_error_failure("certheal could not open the Service Control Manager");
    win::ScHandle service(::OpenServiceW(manager.get(), kServiceName, SERVICE_USER_DEFINED_CONTROL));
    if (!service) {
        return win::last_error_failure(
            "certheal could not open the service certheal to tell it about the pause (only administrators may)");
    }
    SERVICE_STATUS status{};
    if (!::ControlService(service.get(), static_cast<DWORD>(kPauseChangedControlCode), &status)) {
        return win::last_error_failure("certheal could not send the pause control to the service certheal");
    }
    return success();
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
