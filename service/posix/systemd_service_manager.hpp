#pragma once
// ServiceManager on Linux: drives systemd through `systemctl`, run without a shell by a
// ProcessRunner. Every call first checks that systemd is this host's service manager.

#include <system_error>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/ports.hpp"

namespace certheal {

// --- pure helpers for reading systemctl's output (unit-tested) --------------------------

// "nginx" -> "nginx.service"; a name that already has a unit suffix is kept.
std::string systemd_unit_name(std::string_view service);
bool is_service_unit(std::string_view unit);

// The units listed by `systemctl list-dependencies --plain [--reverse] UNIT`: every line after
// the first (which names UNIT itself), trimmed, with any tree glyphs or state bullets removed;
// "..." markers and repeats are left out. Order is kept.
std::vector<std::string> parse_dependency_list(std::string_view output);

// The states `systemctl is-active A B C` prints, one per line, in order.
std::vector<std::string> parse_active_states(std::string_view output);

// Whether a unit in this is-active state is (or is about to be) running.
bool counts_as_running(std::string_view state);

// Given each unit's direct dependents, the order in which to stop every transitive dependent
// of `root` so that a unit stops only after everything that depends on it. `root` itself is
// not in the result. Cycles are broken; each unit appears once.
std::vector<std::string> order_for_stopping(const std::string& root,
                                            const std::map<std::string, std::vector<std::string>>& direct_dependents);

// --- the adapter -------------------------------------------------------------------------

struct SystemdPaths {
    std::filesystem::path systemctl = "/usr/bin/systemctl";
    // Exists exactly when systemd is PID 1 (what sd_booted() checks).
    std::filesystem::path runtime_dir = "/run/systemd/system";
};

class SystemdServiceManager : public ServiceManager {
public:
    explicit SystemdServiceManager(ProcessRunner& runner, SystemdPaths paths = {});

    // With dependents: asks `systemctl list-dependencies --reverse --type=service` for each
    // unit's direct dependents, transitively, stops the active ones (dependents first), then
    // the service. Returns the full unit names of the dependents it stopped, in that order.
    Result<std::vector<std::string>> stop_service(const std::string& service, bool with_dependents, Duration timeout,
                                                  std::stop_token cancel) override;

    // Starts the service's direct service dependencies (Requires=, Wants=, ...) that are not
    // running, then the service, then waits until `systemctl is-active` says "active". One
    // failed dependency fails the call, as a failed dependency fails `net start`.
    Result<Done> start_service(const std::string& service, Duration timeout, std::stop_token cancel) override;

private:
    struct Call;
    Result<Done> require_systemd(Call& call);
    Result<ProcessOutcome> systemctl(Call& call, const std::vector<std::string>& args, bool must_succeed);
    Result<std::vector<std::string>> active_states(Call& call, const std::vector<std::string>& units);

    ProcessRunner& runner_;
    SystemdPaths paths_;
};

// systemctl's exit codes are its own (LSB) numbers, not errno values: exit 5 is "unit not
// loaded", not EIO. Failures from a systemctl that ran carry them in this category.
const std::error_category& systemctl_exit_category() noexcept;

}  // namespace certheal
