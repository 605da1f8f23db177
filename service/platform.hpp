#pragma once
// What differs between Windows and POSIX hosts, decided by the adapter CMake picks
// (service/posix/platform.cpp or service/win/platform.cpp). The composition root
// (service/run.cpp, service/cli.cpp) only talks to this header and the core ports.

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "core/model/certificate_stores.hpp"
#include "core/model/events.hpp"
#include "core/model/ports.hpp"

namespace certheal::platform {

std::filesystem::path default_config_path();  // %ProgramData%\certheal\certheal.json | /etc/certheal/certheal.json
std::filesystem::path default_state_dir();    // %ProgramData%\certheal | /var/lib/certheal

// How configs are read on this host: the default state folder, and whether steps may name
// system certificate stores (Windows only).
ConfigContext config_context();

struct Adapters {
    std::unique_ptr<ProcessRunner> processes;  // CreateProcessW + job object | posix_spawn + process tree (subreaper)
    std::unique_ptr<ServiceManager> services;  // SCM | systemd
    std::unique_ptr<EventSink> system_log;     // Event Log | syslog
    std::unique_ptr<CertificateStores> certificate_stores;  // LocalMachine stores | none
    std::unique_ptr<FileReplacer> files;       // ReplaceFileW | rename keeping owner and mode
};
Adapters make_adapters();
// Just the certificate stores, for commands that need nothing else (probe, check-config, status).
std::unique_ptr<CertificateStores> make_certificate_stores();

// The config decides what runs as SYSTEM/root: a sentence saying who else can change it,
// or nothing when only administrators (root) can.
std::optional<std::string> config_write_protection_problem(const std::filesystem::path& config);

// stop: SIGINT/SIGTERM, SCM STOP; reload: SIGHUP, SCM PARAMCHANGE; resume (`certheal resume`):
// SIGUSR1, SCM user-defined control kResumeControlCode.
enum class ControlRequest { stop, reload, resume };

// The SCM control code `certheal resume` sends (user-defined codes are 128-255). `certheal
// install` gives the service a DACL that lets only administrators and SYSTEM send it.
inline constexpr unsigned long kResumeControlCode = 200;

// The host-wide repair lock (Windows: the named mutex Global\certheal-repair; POSIX: an
// flock on <state_dir>/repair.lock), held by whoever repairs: the service or `certheal repair`.
std::unique_ptr<RepairLock> make_repair_lock(const std::filesystem::path& state_dir);

// The lock every certheal process takes around one read-merge-write of <state_dir>/state.json
// (POSIX: an flock on <state_dir>/state.lock; Windows: the named mutex Global\certheal-state),
// so that the service and an operator's command never save over each other's changes.
std::unique_ptr<StateLock> make_state_lock(const std::filesystem::path& state_dir);

long long current_process_id();

// Gives the heap's free pages back to the system (glibc: malloc_trim). A probe round frees
// as much as it allocated, but the allocator keeps the pages of every probe thread's arena:
// with 1000 sites about 7 of 24 MiB resident were free heap. Cheap, but not free: call it
// now and then, not per probe. A no-op where the allocator has no such call.
void release_free_memory() noexcept;

// The running certheal service or daemon, found through the SCM (Windows) or the pid file
// the daemon writes to <state_dir>/certheal.pid (POSIX, checked against the live process).
struct RunningService {
    long long pid = 0;
    std::string found_by;  // "the Service Control Manager" | "<state_dir>/certheal.pid"
};
std::optional<RunningService> find_running_service(const std::filesystem::path& state_dir);

// Asks the running service to resume (SCM control code / SIGUSR1). A Failure says why it
// could not be asked (access denied: only administrators may).
Result<Done> ask_service_to_resume(const RunningService& service);

// Delivers the console's stop and reload requests (POSIX: SIGINT/SIGTERM stop, SIGHUP
// reloads; Windows: Ctrl+C/Ctrl+Break/close stop) to `handler` on the io_context's thread.
// Watching ends when the returned object is destroyed.
std::shared_ptr<void> watch_console_controls(boost::asio::io_context& io,
                                             std::function<void(ControlRequest, std::string reason)> handler);

// `certheal install` / `certheal uninstall`: register or remove the service, its event
// source and its protected data folder (Windows). Return the process exit code.
int install_service(const std::filesystem::path& config);
int uninstall_service();

}  // namespace certheal::platform
