#include "service/platform.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <pwd.h>
#include <iostream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <malloc.h>

#include <boost/asio/signal_set.hpp>

#include "service/posix/file_locks.hpp"
#include "service/posix/file_replacer.hpp"
#include "service/posix/own_files.hpp"
#include "service/posix/process_runner.hpp"
#include "service/posix/syslog_sink.hpp"
#include "service/posix/systemd_service_manager.hpp"
#include "service/retried_state_lock.hpp"

namespace certheal::platform {

std::filesystem::path default_config_path() { return "/etc/certheal/certheal.json"; }
std::filesystem::path default_state_dir() { return "/var/lib/certheal"; }
ConfigContext config_context() { return {default_state_dir(), /*certificate_stores=*/false}; }

std::unique_ptr<CertificateStores> make_certificate_stores() { return std::make_unique<NoCertificateStores>(); }

std::unique_ptr<HostTrustInspector> make_host_trust_inspector() { return std::make_unique<NoHostTrustInspector>(); }
std::unique_ptr<ClientIdentitySource> make_client_identities() { return std::make_unique<NoClientIdentitySource>(); }

Adapters make_adapters() {
    Adapters adapters;
    adapters.processes = std::make_unique<PosixProcessRunner>();
    // certheal starts its children only through this runner: any other child is an orphan of a
    // step that certheal, as their subreaper, must reap.
    PosixProcessRunner::reap_every_orphan();
    adapters.services = std::make_unique<SystemdServiceManager>(*adapters.processes);
    adapters.system_log = std::make_unique<SyslogSink>();
    adapters.certificate_stores = make_certificate_stores();
    adapters.files = std::make_unique<PosixFileReplacer>();
    adapters.schannel = std::make_unique<NoSchannelSettings>();
    adapters.host_trust = make_host_trust_inspector();
    adapters.own_files = make_own_files();
    adapters.client_identities = make_client_identities();
    return adapters;
}

std::unique_ptr<OwnFiles> make_own_files() { return std::make_unique<posix::PosixOwnFiles>(); }

std::optional<std::string> folder_protection_problem(const std::filesystem::path& folder, std::string_view what) {
    return posix::folder_protection_problem(folder, what);
}

std::size_t remove_leftover_temporaries(const std::filesystem::path& folder) {
    return posix::remove_leftover_temporaries(folder);
}

Result<StateFolderLock> lock_state_folder(const std::filesystem::path& state_dir) {
    auto taken = posix::InstanceLock::take(state_dir / "certheal.pid");
    if (!taken) return taken.error();
    StateFolderLock lock;
    lock.running_pid = taken.value().holder;
    lock.held = std::shared_ptr<posix::InstanceLock>(std::move(taken.value().lock));
    return lock;
}

std::optional<std::string> config_write_protection_problem(const std::filesystem::path& config) {
    // The file and the folder holding it: whoever can write either can swap the config.
    const std::filesystem::path paths[] = {config, config.has_parent_path() ? config.parent_path() : "."};
    for (const auto& path : paths) {
        struct stat info {};
        if (::stat(path.c_str(), &info) != 0) continue;  // a missing file is reported by the loader
        const bool trusted_owner = info.st_uid == 0 || info.st_uid == ::geteuid();
        const bool sticky_dir = S_ISDIR(info.st_mode) && (info.st_mode & S_ISVTX) != 0;
        if (!trusted_owner) {
            return path.string() + " is owned by user id " + std::to_string(info.st_uid) +
                   ", not by root or the user certheal runs as";
        }
        if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !(sticky_dir && path != config)) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
            return path.string() + " can be written by its group or by every user (mode " + mode + ")";
        }
    }
    return std::nullopt;
}

std::unique_ptr<RepairLock> make_repair_lock(const std::filesystem::path& state_dir) {
    auto lock = std::make_unique<posix::FileRepairLock>(state_dir / "repair.lock");
    lock->prepare();
    return lock;
}

std::unique_ptr<StateLock> make_state_lock(const std::filesystem::path& state_dir) {
    // The same kind of flock as the repair lock, on a file of its own.
    return std::make_unique<RetriedStateLock>(std::make_unique<posix::FileRepairLock>(state_dir / "state.lock"));
}

long long current_process_id() { return static_cast<long long>(::getpid()); }

void release_free_memory() noexcept {
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
}

std::optional<RunningService> find_running_service(const std::filesystem::path& state_dir) {
    // The lock says who runs, not the file's text or a program's name: a stale file, or one
    // naming a zombie or a program that now has that pid, is held by nobody.
    const auto pid_file = state_dir / "certheal.pid";
    const auto holder = posix::instance_lock_holder(pid_file);
    if (!holder) return std::nullopt;
    return RunningService{*holder, pid_file.string()};
}

Result<Done> ask_service_to_resume(const RunningService& service) {
    if (::kill(static_cast<pid_t>(service.pid), SIGUSR1) != 0) {
        const std::error_code error(errno, std::generic_category());
        return Failure{error, "certheal could not signal the running certheal (pid " + std::to_string(service.pid) +
                                  "): " + error.message() + (errno == EPERM ? "; run certheal resume as root" : "")};
    }
    return success();
}

Result<Done> ask_service_to_reread_pauses(const RunningService& service) {
    if (::kill(static_cast<pid_t>(service.pid), SIGUSR2) != 0) {
        const std::error_code error(errno, std::generic_category());
        return Failure{error, "certheal could not signal the running certheal (pid " + std::to_string(service.pid) +
                                  "): " + error.message() + (errno == EPERM ? "; run the command as root" : "")};
    }
    return success();
}

std::string current_user_name() {
    const auto uid = ::getuid();
    std::string name = "uid " + std::to_string(uid);
    std::vector<char> buffer(4096);
    struct passwd entry {};
    struct passwd* found = nullptr;
    if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
        found->pw_name != nullptr) {
        name = found->pw_name;
    }
    // sudo runs the command as root; the person is the one who ran sudo. Only a hint for the
    // record (a user may set the variable), never a permission.
    if (const char* sudo_user = std::getenv("SUDO_USER"); sudo_user != nullptr && *sudo_user != '\0' && uid == 0) {
        return std::string(sudo_user).substr(0, 64) + " (via sudo as " + name + ")";
    }
    return name;
}

namespace {
struct SignalWatch {
    explicit SignalWatch(boost::asio::io_context& io)
        : stop_signals(io, SIGINT, SIGTERM),
          reload_signals(io, SIGHUP),
          resume_signals(io, SIGUSR1),
          pause_signals(io, SIGUSR2) {}
    boost::asio::signal_set stop_signals;
    boost::asio::signal_set reload_signals;
    boost::asio::signal_set resume_signals;
    boost::asio::signal_set pause_signals;
};

void wait_for_pause_change(const std::shared_ptr<SignalWatch>& watch,
                           const std::function<void(ControlRequest, std::string)>& handler) {
    watch->pause_signals.async_wait(
        [weak = std::weak_ptr<SignalWatch>(watch), handler](const boost::system::error_code& error, int) {
            if (error) return;
            handler(ControlRequest::pause_changed, "certheal pause or unpause, sent as SIGUSR2");
            if (auto alive = weak.lock()) wait_for_pause_change(alive, handler);
        });
}

void wait_for_resume(const std::shared_ptr<SignalWatch>& watch,
                     const std::function<void(ControlRequest, std::string)>& handler) {
    watch->resume_signals.async_wait(
        [weak = std::weak_ptr<SignalWatch>(watch), handler](const boost::system::error_code& error, int) {
            if (error) return;
            handler(ControlRequest::resume, "certheal resume, sent as SIGUSR1");
            if (auto alive = weak.lock()) wait_for_resume(alive, handler);
        });
}

void wait_for_stop(const std::shared_ptr<SignalWatch>& watch,
                   const std::function<void(ControlRequest, std::string)>& handler) {
    watch->stop_signals.async_wait([weak = std::weak_ptr<SignalWatch>(watch), handler](
                                       const boost::system::error_code& error, int signal_number) {
        if (error) return;
        handler(ControlRequest::stop, signal_number == SIGINT ? "SIGINT" : "SIGTERM");
        if (auto alive = weak.lock()) wait_for_stop(alive, handler);
    });
}

void wait_for_reload(const std::shared_ptr<SignalWatch>& watch,
                     const std::function<void(ControlRequest, std::string)>& handler) {
    watch->reload_signals.async_wait(
        [weak = std::weak_ptr<SignalWatch>(watch), handler](const boost::system::error_code& error, int) {
            if (error) return;
            handler(ControlRequest::reload, "SIGHUP");
            if (auto alive = weak.lock()) wait_for_reload(alive, handler);
        });
}
}  // namespace

// The signature is the platform port's; the Windows adapter keeps the handler it is given.
std::shared_ptr<void> watch_console_controls(boost::asio::io_context& io,
                                             std::function<void(ControlRequest, std::string reason)> handler) {  // NOLINT(performance-unnecessary-value-param)
    auto watch = std::make_shared<SignalWatch>(io);
    wait_for_stop(watch, handler);
    wait_for_reload(watch, handler);
    wait_for_resume(watch, handler);
    wait_for_pause_change(watch, handler);
    return watch;
}

}  // namespace certheal::platform

namespace certheal::platform {

int install_service(const std::filesystem::path&) {
    std::cerr << "certheal install registers the Windows service. On Linux, copy installer/certheal.service to "
                 "/etc/systemd/system/ and run: systemctl daemon-reload && systemctl enable --now certheal\n";
    return 2;
}

int uninstall_service() {
    std::cerr << "certheal uninstall removes the Windows service. On Linux run: systemctl disable --now certheal\n";
    return 2;
}

int configure_service_after_msi() {
    std::cerr << "certheal install --msi-postinstall is the Windows installer's own step; it does nothing here.\n";
    return 2;
}

}  // namespace certheal::platform
