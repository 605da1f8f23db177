#include "service/win/scm_service_manager.hpp"

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "core/base/duration.hpp"
#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"
#include "core/base/text.hpp"

namespace certheal::win {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr wchar_t kServicesKey[] = L"SYSTEM\\CurrentControlSet\\Services\\";

std::string quoted(const std::string& name) { return "\"" + name + "\""; }

// Service names are case-insensitive; compare them by their invariant upper case.
std::wstring fold(std::wstring_view name) {
    if (name.empty()) return {};
    std::wstring folded(name.size(), L'\0');
    const int length = ::LCMapStringEx(LOCALE_NAME_INVARIANT, LCMAP_UPPERCASE, name.data(),
                                       static_cast<int>(name.size()), folded.data(),
                                       static_cast<int>(folded.size()), nullptr, nullptr, 0);
    if (length <= 0) return std::wstring(name);
    folded.resize(static_cast<size_t>(length));
    return folded;
}

const char* state_name(DWORD state) {
    switch (state) {
        case SERVICE_STOPPED: return "stopped";
        case SERVICE_START_PENDING: return "starting";
        case SERVICE_STOP_PENDING: return "stopping";
        case SERVICE_RUNNING: return "running";
        case SERVICE_CONTINUE_PENDING: return "resuming";
        case SERVICE_PAUSE_PENDING: return "pausing";
        case SERVICE_PAUSED: return "paused";
        default: return "in an unknown state";
    }
}

// --- registry ------------------------------------------------------------------------

// Opens HKLM\SYSTEM\CurrentControlSet\Services\<name> for reading. ERROR_FILE_NOT_FOUND
// becomes ERROR_SERVICE_DOES_NOT_EXIST, which is what it means here.
Result<RegKey> open_service_key(const std::wstring& name) {
    RegKey key;
    const std::wstring path = std::wstring(kServicesKey) + name;
    LSTATUS status = ::RegOpenKeyExW(HKEY_LOCAL_MACHINE, path.c_str(), 0, KEY_QUERY_VALUE | KEY_WOW64_64KEY,
                                     key.out());
    if (status == ERROR_FILE_NOT_FOUND) status = ERROR_SERVICE_DOES_NOT_EXIST;
    if (status != ERROR_SUCCESS) {
        return win32_failure(static_cast<DWORD>(status),
                             "certheal could not read the registry settings of the service " + quoted(to_utf8(name)));
    }
    return key;
}

// A REG_MULTI_SZ (or REG_SZ) value as a list; a missing value is an empty list.
std::vector<std::wstring> read_string_list(HKEY key, const wchar_t* value_name) {
    DWORD type = 0;
    DWORD size = 0;
    if (::RegQueryValueExW(key, value_name, nullptr, &type, nullptr, &size) != ERROR_SUCCESS) return {};
    if ((type != REG_MULTI_SZ && type != REG_SZ) || size == 0) return {};
    // Two spare terminators: the stored value need not be terminated properly.
    std::vector<wchar_t> buffer(size / sizeof(wchar_t) + 2, L'\0');
    DWORD read_size = size;
    if (::RegQueryValueExW(key, value_name, nullptr, &type, reinterpret_cast<BYTE*>(buffer.data()), &read_size) !=
        ERROR_SUCCESS) {
        return {};
    }
    std::vector<std::wstring> entries;
    const wchar_t* cursor = buffer.data();
    const wchar_t* end = buffer.data() + read_size / sizeof(wchar_t);
    while (cursor < end && *cursor != L'\0') {
        std::wstring entry(cursor);
        cursor += entry.size() + 1;
        entries.push_back(std::move(entry));
        if (type == REG_SZ) break;
    }
    return entries;
}

std::wstring read_string(HKEY key, const wchar_t* value_name) {
    auto values = read_string_list(key, value_name);
    return values.empty() ? std::wstring() : values.front();
}

// --- the SCM ---------------------------------------------------------------------------

struct ServiceEntry {
    std::wstring name;
    DWORD state = SERVICE_STOPPED;
};

Result<std::vector<ServiceEntry>> list_services(SC_HANDLE manager) {
    std::vector<ServiceEntry> services;
    std::vector<BYTE> buffer(64 * 1024);
    DWORD resume = 0;
    for (;;) {
        DWORD needed = 0;
        DWORD returned = 0;
        const BOOL done = ::EnumServicesStatusExW(manager, SC_ENUM_PROCESS_INFO, SERVICE_WIN32, SERVICE_STATE_ALL,
                                                  buffer.data(), static_cast<DWORD>(buffer.size()), &needed,
                                                  &returned, &resume, nullptr);
        const DWORD error = done ? ERROR_SUCCESS : ::GetLastError();
        if (!done && error != ERROR_MORE_DATA) {
            return win32_failure(error, "certheal could not list the installed services");
        }
        const auto* entries = reinterpret_cast<const ENUM_SERVICE_STATUS_PROCESSW*>(buffer.data());
        for (DWORD index = 0; index < returned; ++index) {
            services.push_back({entries[index].lpServiceName, entries[index].ServiceStatusProcess.dwCurrentState});
        }
        if (done) return services;
        if (returned == 0) buffer.resize(std::max<size_t>(buffer.size() * 2, needed));
    }
}

Result<ScHandle> open_manager() {
    ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT | SC_MANAGER_ENUMERATE_SERVICE));
    if (!manager) return last_error_failure("certheal could not connect to the Service Control Manager");
    return manager;
}

// One stop_service or start_service call: the SCM connection, the deadline and the
// cancellation shared by every service it touches.
class ScmSession {
public:
    ScmSession(ScHandle manager, Duration timeout, std::stop_token cancel)
        : manager_(std::move(manager)),
          timeout_(timeout),
          deadline_(SteadyClock::now() + timeout),
          cancel_(std::move(cancel)) {}

    Result<Done> stop(const std::wstring& name) {
        auto service = open(name, SERVICE_STOP | SERVICE_QUERY_STATUS, "stop");
        if (!service) return service.error();
        auto status = query(service.value().get(), name);
        if (!status) return status.error();

        // Let a start in progress finish: a starting service may not accept STOP yet.
        if (status.value().dwCurrentState == SERVICE_START_PENDING) {
            auto running = wait_while(service.value().get(), name, SERVICE_START_PENDING, "start");
            if (!running) return running.error();
            status = running;
        }
        if (status.value().dwCurrentState == SERVICE_STOPPED) return success();
        // Never a second STOP to a service that is already stopping: Windows ignores it,
        // but Wine kills the service's process.
        if (status.value().dwCurrentState != SERVICE_STOP_PENDING) {
            SERVICE_STATUS after_control{};
            if (!::ControlService(service.value().get(), SERVICE_CONTROL_STOP, &after_control)) {
                const DWORD error = ::GetLastError();
                if (error == ERROR_SERVICE_NOT_ACTIVE) return success();
                if (error != ERROR_SERVICE_CANNOT_ACCEPT_CTRL) {
                    return win32_failure(error, "certheal could not stop the service " + quoted(to_utf8(name)));
                }
                // It may have begun stopping on its own in the meantime; otherwise it refuses.
                auto again = query(service.value().get(), name);
                if (!again) return again.error();
                const DWORD state = again.value().dwCurrentState;
                if (state == SERVICE_STOPPED) return success();
                if (state != SERVICE_STOP_PENDING) {
                    return win32_failure(error, "certheal could not stop the service " + quoted(to_utf8(name)) +
                                                    ", which is " + state_name(state));
                }
            } else if (after_control.dwCurrentState == SERVICE_STOPPED) {
                return success();
            }
        }
        auto stopped = wait_until(service.value().get(), name, SERVICE_STOPPED, "stop");
        if (!stopped) return stopped.error();
        return success();
    }

    // Starts `name` after the services it depends on. `chain` holds the services being
    // started further up (for cycles and for naming who needed what in messages).
    Result<Done> start_with_dependencies(const std::wstring& name, std::vector<std::wstring>& chain) {
        const std::wstring folded = fold(name);
        if (started_.count(folded) != 0) return success();
        for (const auto& link : chain) {
            if (fold(link) == folded) return success();  // a dependency cycle: the SCM would refuse it anyway
        }

        auto key = open_service_key(name);
        if (!key) return Failure{key.error().code, key.error().message + needed_by(chain)};
        const auto dependencies = read_string_list(key.value().get(), L"DependOnService");

        chain.push_back(name);
        for (const auto& dependency : dependencies) {
            auto started = start_with_dependencies(dependency, chain);
            if (!started) {
                chain.pop_back();
                return started;
            }
        }
        chain.pop_back();

        auto result = start_one(name, chain);
        if (result) started_.insert(folded);
        return result;
    }

    SC_HANDLE manager() const { return manager_.get(); }

private:
    Result<Done> start_one(const std::wstring& name, const std::vector<std::wstring>& chain) {
        auto service = open(name, SERVICE_START | SERVICE_QUERY_STATUS, "start", chain);
        if (!service) return service.error();
        auto status = query(service.value().get(), name);
        if (!status) return status.error();

        if (status.value().dwCurrentState == SERVICE_STOP_PENDING) {
            auto stopped = wait_while(service.value().get(), name, SERVICE_STOP_PENDING, "stop");
            if (!stopped) return stopped.error();
            status = stopped;
        }
        if (status.value().dwCurrentState == SERVICE_RUNNING) return success();
        if (status.value().dwCurrentState == SERVICE_STOPPED) {
            if (!::StartServiceW(service.value().get(), 0, nullptr)) {
                const DWORD error = ::GetLastError();
                if (error != ERROR_SERVICE_ALREADY_RUNNING) {
                    return win32_failure(error, "certheal could not start the service " + quoted(to_utf8(name)) +
                                                    needed_by(chain));
                }
            }
        }
        auto running = wait_until(service.value().get(), name, SERVICE_RUNNING, "start");
        if (!running) return running.error();
        return success();
    }

    static std::string needed_by(const std::vector<std::wstring>& chain) {
        if (chain.empty()) return {};
        return ", which the service " + quoted(to_utf8(chain.back())) + " depends on";
    }

    Result<ScHandle> open(const std::wstring& name, DWORD access, const char* verb,
                          const std::vector<std::wstring>& chain = {}) {
        ScHandle service(::OpenServiceW(manager_.get(), name.c_str(), access));
        if (!service) {
            return last_error_failure(std::string("certheal could not ") + verb + " the service " +
                                      quoted(to_utf8(name)) + needed_by(chain));
        }
        return service;
    }

    Result<SERVICE_STATUS_PROCESS> query(SC_HANDLE service, const std::wstring& name) {
        SERVICE_STATUS_PROCESS status{};
        DWORD needed = 0;
        if (!::QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, reinterpret_cast<BYTE*>(&status),
                                    sizeof(status), &needed)) {
            return last_error_failure("certheal could not read the state of the service " + quoted(to_utf8(name)));
        }
        return status;
    }

    // Polls until the service is in `wanted` (STOPPED or RUNNING). A start that ends in
    // STOPPED is a failure carrying the service's own exit code.
    Result<SERVICE_STATUS_PROCESS> wait_until(SC_HANDLE service, const std::wstring& name, DWORD wanted,
                                              const char* verb) {
        for (;;) {
            auto status = query(service, name);
            if (!status) return status;
            const SERVICE_STATUS_PROCESS& current = status.value();
            if (current.dwCurrentState == wanted) return status;
            if (wanted == SERVICE_RUNNING && current.dwCurrentState == SERVICE_STOPPED) {
                return stopped_while_starting(name, current);
            }
            auto paused = pause_before_next_poll(name, current, verb);
            if (!paused) return paused.error();
        }
    }

    // Polls while the service stays in the `pending` state; returns the state it reaches.
    Result<SERVICE_STATUS_PROCESS> wait_while(SC_HANDLE service, const std::wstring& name, DWORD pending,
                                              const char* verb) {
        for (;;) {
            auto status = query(service, name);
            if (!status) return status;
            if (status.value().dwCurrentState != pending) return status;
            auto paused = pause_before_next_poll(name, status.value(), verb);
            if (!paused) return paused.error();
        }
    }

    // Microsoft's "Stopping a Service" pacing: a tenth of the wait hint, 1 to 10 seconds,
    // never past the deadline; and certheal's own shutdown cuts the wait short.
    Result<Done> pause_before_next_poll(const std::wstring& name, const SERVICE_STATUS_PROCESS& current,
                                       const char* verb) {
        const auto now = SteadyClock::now();
        if (now >= deadline_) {
            return win32_failure(ERROR_TIMEOUT, "The service " + quoted(to_utf8(name)) + " did not " + verb +
                                                    " within " + format_duration(timeout_) + " (it is " +
                                                    state_name(current.dwCurrentState) +
                                                    "), so certheal stopped waiting");
        }
        Duration pause = std::clamp<Duration>(Duration(current.dwWaitHint / 10), std::chrono::seconds(1),
                                              std::chrono::seconds(10));
        pause = std::min(pause, std::chrono::duration_cast<Duration>(deadline_ - now) + Duration(1));
        std::mutex mutex;
        std::condition_variable_any never_notified;
        std::unique_lock lock(mutex);
        never_notified.wait_for(lock, cancel_, pause, [] { return false; });
        if (cancel_.stop_requested()) {
            return win32_failure(ERROR_CANCELLED, "certheal is shutting down, so it stopped waiting for the service " +
                                                      quoted(to_utf8(name)) + " to " + verb);
        }
        return success();
    }

    static Failure stopped_while_starting(const std::wstring& name, const SERVICE_STATUS_PROCESS& status) {
        std::string what = "The service " + quoted(to_utf8(name)) + " stopped again while it was starting";
        if (status.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR) {
            what += " (its own exit code is " + std::to_string(status.dwServiceSpecificExitCode) +
                    "; see its event log)";
            return win32_failure(ERROR_SERVICE_SPECIFIC_ERROR, std::move(what));
        }
        const DWORD code = status.dwWin32ExitCode != NO_ERROR ? status.dwWin32ExitCode : ERROR_SERVICE_NOT_ACTIVE;
        return win32_failure(code, std::move(what));
    }

    ScHandle manager_;
    Duration timeout_;
    SteadyClock::time_point deadline_;
    std::stop_token cancel_;
    std::set<std::wstring> started_;  // folded names
};

Result<std::vector<std::wstring>> dependents_in_stop_order(SC_HANDLE manager, const std::wstring& service) {
    auto services = list_services(manager);
    if (!services) return services.error();

    // Who depends on whom, from each service's registry key: DependOnService names services,
    // DependOnGroup names load-order groups (a service belongs to the group in its Group value).
    std::map<std::wstring, std::vector<std::wstring>> dependents_of;  // folded name -> service names
    std::map<std::wstring, std::vector<std::wstring>> dependents_of_group;
    std::map<std::wstring, DWORD> state_of;
    std::map<std::wstring, std::wstring> group_of;
    for (const auto& entry : services.value()) {
        state_of[fold(entry.name)] = entry.state;
        auto key = open_service_key(entry.name);
        if (!key) continue;  // deleted since the listing, or unreadable: it cannot be ours to stop
        for (const auto& dependency : read_string_list(key.value().get(), L"DependOnService")) {
            dependents_of[fold(dependency)].push_back(entry.name);
        }
        for (const auto& group : read_string_list(key.value().get(), L"DependOnGroup")) {
            dependents_of_group[fold(group)].push_back(entry.name);
        }
        group_of[fold(entry.name)] = fold(read_string(key.value().get(), L"Group"));
    }

    std::vector<std::wstring> order;
    std::set<std::wstring> visited{fold(service)};
    // Depth first, appending a service after all of its own dependents: dependents come first.
    auto visit = [&](auto&& self, const std::wstring& name) -> void {
        const std::wstring folded = fold(name);
        std::vector<std::wstring> direct = dependents_of[folded];
        if (const auto group = group_of.find(folded); group != group_of.end() && !group->second.empty()) {
            const auto& by_group = dependents_of_group[group->second];
            direct.insert(direct.end(), by_group.begin(), by_group.end());
        }
        for (const auto& dependent : direct) {
            if (!visited.insert(fold(dependent)).second) continue;
            self(self, dependent);
            const auto state = state_of.find(fold(dependent));
            if (state != state_of.end() && state->second != SERVICE_STOPPED) order.push_back(dependent);
        }
    };
    visit(visit, service);
    return order;
}

std::vector<std::string> to_utf8_list(const std::vector<std::wstring>& names) {
    std::vector<std::string> result;
    result.reserve(names.size());
    for (const auto& name : names) result.push_back(to_utf8(name));
    return result;
}

std::string joined(const std::vector<std::string>& names) {
    return join(names, ", ", [](const std::string& name) { return quoted(name); });
}

}  // namespace

Result<std::vector<std::string>> ScmServiceManager::stop_service(const std::string& service, bool with_dependents,
                                                                 Duration timeout, std::stop_token cancel) {
    auto manager = open_manager();
    if (!manager) return manager.error();
    ScmSession session(std::move(manager).value(), timeout, std::move(cancel));
    const std::wstring name = to_utf16(service);

    // Fail early, and with the plain message, when the service does not exist.
    ScHandle probe(::OpenServiceW(session.manager(), name.c_str(), SERVICE_QUERY_STATUS));
    if (!probe) return last_error_failure("certheal could not stop the service " + quoted(service));
    probe.reset();

    std::vector<std::string> stopped;
    if (with_dependents) {
        auto dependents = dependents_in_stop_order(session.manager(), name);
        if (!dependents) return dependents.error();
        for (const auto& dependent : dependents.value()) {
            auto result = session.stop(dependent);
            if (!result) {
                std::string message = result.error().message;
                message += " certheal was stopping it because it depends on the service " + quoted(service) + ".";
                if (!stopped.empty()) {
                    message += " certheal had already stopped " + joined(stopped) + "; start them again once " +
                               quoted(service) + " runs.";
                }
                return Failure{result.error().code, std::move(message)};
            }
            stopped.push_back(to_utf8(dependent));
        }
    }
    auto result = session.stop(name);
    if (!result) {
        if (stopped.empty()) return result.error();
        return Failure{result.error().code, result.error().message + " certheal had already stopped its dependents " +
                                                joined(stopped) + "; start them again once " + quoted(service) +
                                                " runs."};
    }
    return stopped;
}

Result<Done> ScmServiceManager::start_service(const std::string& service, Duration timeout, std::stop_token cancel) {
    auto manager = open_manager();
    if (!manager) return manager.error();
    ScmSession session(std::move(manager).value(), timeout, std::move(cancel));
    std::vector<std::wstring> chain;
    return session.start_with_dependencies(to_utf16(service), chain);
}

Result<std::vector<std::string>> service_dependencies(const std::string& service) {
    auto key = open_service_key(to_utf16(service));
    if (!key) return key.error();
    return to_utf8_list(read_string_list(key.value().get(), L"DependOnService"));
}

Result<std::vector<std::string>> active_dependents_in_stop_order(const std::string& service) {
    auto manager = open_manager();
    if (!manager) return manager.error();
    auto dependents = dependents_in_stop_order(manager.value().get(), to_utf16(service));
    if (!dependents) return dependents.error();
    return to_utf8_list(dependents.value());
}

}  // namespace certheal::win
