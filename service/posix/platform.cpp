#include "service/platform.hpp"

#include <csignal>
#include <cstdio>
#include <iostream>

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/signal_set.hpp>

#include "service/posix/file_replacer.hpp"
#include "service/posix/process_runner.hpp"
#include "service/posix/syslog_sink.hpp"
#include "service/posix/systemd_service_manager.hpp"

namespace certheal::platform {

std::filesystem::path default_config_path() { return "/etc/certheal/certheal.json"; }
std::filesystem::path default_state_dir() { return "/var/lib/certheal"; }
ConfigContext config_context() { return {default_state_dir(), /*certificate_stores=*/false}; }

std::unique_ptr<CertificateStores> make_certificate_stores() { return std::make_unique<NoCertificateStores>(); }

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
    return adapters;
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

namespace {
struct SignalWatch {
    explicit SignalWatch(boost::asio::io_context& io) : stop_signals(io, SIGINT, SIGTERM), reload_signals(io, SIGHUP) {}
    boost::asio::signal_set stop_signals;
    boost::asio::signal_set reload_signals;
};

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

}  // namespace certheal::platform
