#pragma once
// What differs between Windows and POSIX hosts, decided by the adapter CMake picks
// (service/posix/platform.cpp or service/win/platform.cpp). The composition root
// (service/run.cpp, service/cli.cpp) only talks to this header and the core ports.

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "core/model/certificate_stores.hpp"
#include "core/model/events.hpp"
#include "core/model/host_settings.hpp"
#include "core/model/host_trust.hpp"
#include "core/model/ports.hpp"
#include "core/probe/client_identity_source.hpp"

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
    std::unique_ptr<FileReplacer> files;       // ReplaceFileW | rename keeping owner, mode, ACL and labels
    std::unique_ptr<OwnFiles> own_files;       // the journal, state.json, status.json, certheal.prom
    std::unique_ptr<ClientIdentitySource> client_identities;  // LocalMachine store certificates | none
    std::unique_ptr<HostTrustInspector> host_trust;  // Schannel, http.sys, crypt32 | none
    std::unique_ptr<SchannelSettings> schannel;  // the SCHANNEL registry key | none
    // What trust_ca "store": "auto" reads of a site (the host trust diagnosis) | none
    std::unique_ptr<BindingTrustSource> binding_trust;
};
Adapters make_adapters();
// Just certheal's own files, for commands and tests that need nothing else.
std::unique_ptr<OwnFiles> make_own_files();
// Just the certificate stores, for commands that need nothing else (probe, check-config, status).
std::unique_ptr<CertificateStores> make_certificate_stores();
// Just the host trust inspector, for diagnose, probe, check-config and status.
std::unique_ptr<HostTrustInspector> make_host_trust_inspector();
// Where a store client_cert is found (Windows: LocalMachine\My and its keys where they live).
std::unique_ptr<ClientIdentitySource> make_client_identities();

// The config decides what runs as SYSTEM/root: a sentence saying who else can change it,
// or nothing when only administrators (root) can.
std::optional<std::string> config_write_protection_problem(const std::filesystem::path& config);

// stop: SIGINT/SIGTERM, SCM STOP; reload: SIGHUP, SCM PARAMCHANGE; resume (`certheal resume`):
// SIGUSR1, SCM user-defined control kResumeControlCode; pause_changed (`certheal pause` or
// `unpause` changed the saved state): SIGUSR2, SCM control kPauseChangedControlCode.
enum class ControlRequest { stop, reload, resume, pause_changed };

// The SCM control code `certheal resume` sends (user-defined codes are 128-255). `certheal
// install` gives the service a DACL that lets only administrators and SYSTEM send it.
inline constexpr unsigned long kResumeControlCode = 200;
inline constexpr unsigned long kPauseChangedControlCode = 201;

// The host-wide repair lock (Windows: the named mutex Global\certheal-repair; POSIX: an
// flock on <state_dir>/repair.lock), held by whoever repairs: the service or `certheal repair`.
std::unique_ptr<RepairLock> make_repair_lock(const std::filesystem::path& state_dir);

// Why `folder` (`what`: "the state folder", "the textfile folder") may not hold the files
// certheal writes with full privileges, as a clause, or nothing when only administrators
// (root, or the account certheal runs as) can change it. POSIX: owned by root or that account
// and not writable by its group or every user (unless sticky and owned by that account), and
// every folder above it owned by root or that account and not writable by others unless
// sticky. Windows: owned by and writable only by Administrators, SYSTEM or that account.
std::optional<std::string> folder_protection_problem(const std::filesystem::path& folder, std::string_view what);

// Removes what a killed rewrite left in `folder` (certheal's temporary files); how many.
std::size_t remove_leftover_temporaries(const std::filesystem::path& folder);

// One `certheal run` per state folder, for its whole life: the lock, held while `held` lives
// (POSIX: a record lock on <state_dir>/certheal.pid, which holds the pid and is removed at
// the end; Windows: that file opened without write sharing, deleted when closed). When another
// certheal holds it, `running_pid` says which. A Failure: the lock could not be made.
struct StateFolderLock {
    std::shared_ptr<void> held;
    std::optional<long long> running_pid;
};
Result<StateFolderLock> lock_state_folder(const std::filesystem::path& state_dir);

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

// The running certheal service or daemon, found through the SCM (Windows) or the holder of
// the state folder's lock on <state_dir>/certheal.pid (POSIX): a pid file nobody holds (a
// stale one, or one naming a zombie) is no running service.
struct RunningService {
    long long pid = 0;
    std::string found_by;  // "the Service Control Manager" | "<state_dir>/certheal.pid"
};
std::optional<RunningService> find_running_service(const std::filesystem::path& state_dir);

// Asks the running service to resume (SCM control code / SIGUSR1). A Failure says why it
// could not be asked (access denied: only administrators may).
Result<Done> ask_service_to_resume(const RunningService& service);

// Tells the running service that `certheal pause` or `unpause` changed the saved state, so that
// it reads it again (SCM control kPauseChangedControlCode / SIGUSR2). A Failure says why not.
Result<Done> ask_service_to_reread_pauses(const RunningService& service);

// Who runs this command, for the events: the account name ("alice"; under sudo "alice (via sudo
// as root)"; Windows: the account's name as GetUserNameW gives it).
std::string current_user_name();

// Delivers the console's stop and reload requests (POSIX: SIGINT/SIGTERM stop, SIGHUP
// reloads; Windows: Ctrl+C/Ctrl+Break/close stop) to `handler` on the io_context's thread.
// Watching ends when the returned object is destroyed.
std::shared_ptr<void> watch_console_controls(boost::asio::io_context& io,
                                             std::function<void(ControlRequest, std::string reason)> handler);

// Calls `changed` on the io_context's thread when a journal file in `state_dir` is written,
// created or renamed (`certheal history --follow`): inotify on Linux, ReadDirectoryChangesW on
// Windows, so nothing polls. `changed` gets a sentence instead, once, when the folder cannot be
// watched any more (removed, say). Watching ends when the returned object is destroyed.
Result<std::shared_ptr<void>> watch_journal_folder(
    boost::asio::io_context& io, const std::filesystem::path& state_dir,
    std::function<void(const std::optional<std::string>& problem)> changed);

// `certheal install` / `certheal uninstall`: register or remove the service, its event
// source and its protected data folder (Windows). Return the process exit code.
int install_service(const std::filesystem::path& config);
int uninstall_service();
// `certheal install --msi-postinstall`, the MSI's custom action: what the MSI's tables cannot
// say about the service it registered (recovery actions, delayed start, who may control it),
// set by the same code as `certheal install`, and written to a log in the data folder.
int configure_service_after_msi();

}  // namespace certheal::platform
