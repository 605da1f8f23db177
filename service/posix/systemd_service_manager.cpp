#include "service/posix/systemd_service_manager.hpp"
#include "core/base/duration.hpp"
#include "core/base/text.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>

namespace certheal {
namespace {

class SystemctlExitCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "systemctl"; }
    std::string message(int code) const override {
        // systemctl(1), "EXIT STATUS", following the LSB init script actions.
        switch (code) {
            case 1: return "systemctl exit code 1 (the unit failed, or an unspecified error)";
            case 2: return "systemctl exit code 2 (invalid or excess arguments)";
            case 3: return "systemctl exit code 3 (the unit is not active)";
            case 4: return "systemctl exit code 4 (no such unit, or not enough privileges)";
            case 5: return "systemctl exit code 5 (the unit is not loaded or not installed)";
            default: return "systemctl exit code " + std::to_string(code);
        }
    }
};

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kUnitSuffixes[] = {".service", ".socket", ".target", ".mount", ".timer", ".path",
                                              ".slice", ".scope", ".device", ".swap", ".automount"};
constexpr std::size_t kMostUnitsExplored = 256;  // a bound on the dependents walk
constexpr std::chrono::milliseconds kActivePollInterval{250};

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const auto end = text.find('\n');
        lines.push_back(text.substr(0, end));
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
    return lines;
}

bool is_unit_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '@' || c == '.' ||
           c == '_' || c == '-' || c == '\\' || c == ':';
}



std::string one_line(std::string_view text) {
    std::string flat(trim(text));
    std::replace(flat.begin(), flat.end(), '\n', ' ');
    if (flat.size() > 300) flat = flat.substr(flat.size() - 300);
    return flat;
}

}  // namespace

const std::error_category& systemctl_exit_category() noexcept {
    static const SystemctlExitCategory category;
    return category;
}

std::string systemd_unit_name(std::string_view service) {
    for (const auto suffix : kUnitSuffixes) {
        if (service.size() > suffix.size() && service.substr(service.size() - suffix.size()) == suffix)
            return std::string(service);
    }
    return std::string(service) + ".service";
}

bool is_service_unit(std::string_view unit) {
    constexpr std::string_view suffix = ".service";
    return unit.size() > suffix.size() && unit.substr(unit.size() - suffix.size()) == suffix;
}

std::vector<std::string> parse_dependency_list(std::string_view output) {
    std::vector<std::string> units;
    std::set<std::string, std::less<>> seen;
    bool first = true;
    for (auto line : lines_of(output)) {
        if (trim(line).empty()) continue;
        if (first) {  // the unit that was asked about
            first = false;
            continue;
        }
        // Without --plain (or from another systemd version) a line may begin with tree glyphs
        // and a state bullet; a unit name begins at the first character a unit name may hold.
        std::size_t start = 0;
        while (start < line.size() && (!is_unit_name_char(line[start]) || line[start] == '.')) ++start;
        std::size_t end = start;
        while (end < line.size() && is_unit_name_char(line[end])) ++end;
        const auto name = line.substr(start, end - start);
        if (name.empty() || name.find('.') == std::string_view::npos) continue;
        if (seen.insert(std::string(name)).second) units.emplace_back(name);
    }
    return units;
}

std::vector<std::string> parse_active_states(std::string_view output) {
    std::vector<std::string> states;
    for (auto line : lines_of(output)) {
        const auto state = trim(line);
        if (!state.empty()) states.emplace_back(state);
    }
    return states;
}

bool counts_as_running(std::string_view state) {
    return state == "active" || state == "reloading" || state == "activating" || state == "refreshing";
}

std::vector<std::string> order_for_stopping(const std::string& root,
                                            const std::map<std::string, std::vector<std::string>>& direct_dependents) {
    std::vector<std::string> order;
    std::set<std::string> visited;
    // Depth-first, appending a unit after all its dependents: a post-order of the dependents graph.
    auto visit = [&](auto&& self, const std::string& unit) -> void {
        if (!visited.insert(unit).second) return;
        if (const auto found = direct_dependents.find(unit); found != direct_dependents.end()) {
            for (const auto& dependent : found->second) self(self, dependent);
        }
        if (unit != root) order.push_back(unit);
    };
    visit(visit, root);
    return order;
}

// One stop_service/start_service call: what it is doing, and its shared deadline.
struct SystemdServiceManager::Call {
    std::string action;   // "stop" or "start"
    std::string service;  // as the config names it
    Duration timeout;
    SteadyClock::time_point deadline;
    std::stop_token cancel;

    std::string doing() const { return (action == "stop" ? "stopping" : "starting") + std::string(" service ") + service; }
};

SystemdServiceManager::SystemdServiceManager(ProcessRunner& runner, SystemdPaths paths)
    : runner_(runner), paths_(std::move(paths)) {}

Result<Done> SystemdServiceManager::require_systemd(Call& call) {
    const auto not_running = [&] {
        return Failure{std::make_error_code(std::errc::not_supported),
                       "systemd is not running on this host, so certheal cannot " + call.action + " service " +
                           call.service + "; run the repair with a `run` step or start certheal on a systemd host."};
    };
    std::error_code ignored;
    if (!std::filesystem::is_directory(paths_.runtime_dir, ignored)) return not_running();
    auto state = systemctl(call, {"is-system-running"}, /*must_succeed=*/false);
    if (!state) return state.error();
    const auto said = trim(state.value().stdout_tail);
    // Non-zero exits are normal here ("degraded", "starting"); only "offline" or no answer at
    // all (no bus to talk to) mean there is no systemd to drive.
    if (said == "offline" || (said.empty() && state.value().exit_code != 0)) return not_running();
    return success();
}

Result<ProcessOutcome> SystemdServiceManager::systemctl(Call& call, const std::vector<std::string>& args,
                                                        bool must_succeed) {
    std::string command = "systemctl";
    for (const auto& arg : args) command += " " + arg;

    if (call.cancel.stop_requested()) {
        return Failure{std::make_error_code(std::errc::operation_canceled),
                       "certheal is shutting down, so it abandoned " + call.doing() + " before `" + command + "`."};
    }
    const auto left = std::chrono::duration_cast<Duration>(call.deadline - SteadyClock::now());
    if (left <= Duration::zero()) {
        return Failure{std::make_error_code(std::errc::timed_out),
                       call.doing() + " did not finish within its " + format_duration(call.timeout) +
                           " timeout; certheal gave up before `" + command + "`. Check the service with `systemctl status " +
                           systemd_unit_name(call.service) + "`."};
    }
    auto ran = runner_.run(paths_.systemctl, args, left, call.cancel);
    if (!ran) {
        return Failure{ran.error().code, "certheal could not run systemctl while " + call.doing() + ": " +
                                             ran.error().message};
    }
    const auto& outcome = ran.value();
    if (outcome.cancelled) {
        return Failure{std::make_error_code(std::errc::operation_canceled),
                       "certheal is shutting down, so it interrupted `" + command + "` while " + call.doing() + "."};
    }
    if (outcome.timed_out) {
        return Failure{std::make_error_code(std::errc::timed_out),
                       "`" + command + "` did not finish within the " + format_duration(call.timeout) + " timeout for " +
                           call.doing() + "; certheal killed it. Check the unit with `systemctl status`."};
    }
    if (must_succeed && outcome.exit_code != 0) {
        const auto said = one_line(outcome.stderr_tail.empty() ? outcome.stdout_tail : outcome.stderr_tail);
        return Failure{std::error_code(outcome.exit_code, systemctl_exit_category()),
                       "`" + command + "` failed with exit code " + std::to_string(outcome.exit_code) + " while " +
                           call.doing() + (said.empty() ? std::string(".") : ": " + said)};
    }
    return ran;
}

Result<std::vector<std::string>> SystemdServiceManager::active_states(Call& call,
                                                                      const std::vector<std::string>& units) {
    std::vector<std::string> args{"is-active"};
    args.insert(args.end(), units.begin(), units.end());
    // is-active exits non-zero when any unit is not active; the states on stdout are what count.
    auto ran = systemctl(call, args, /*must_succeed=*/false);
    if (!ran) return ran.error();
    auto states = parse_active_states(ran.value().stdout_tail);
    if (states.size() != units.size()) {
        return Failure{std::make_error_code(std::errc::protocol_error),
                       "`systemctl is-active` answered " + std::to_string(states.size()) + " states for " +
                           std::to_string(units.size()) + " units while certheal was " + call.doing() + ": " +
                           one_line(ran.value().stderr_tail + " " + ran.value().stdout_tail)};
    }
    return states;
}

Result<std::vector<std::string>> SystemdServiceManager::stop_service(const std::string& service, bool with_dependents,
                                                                     Duration timeout, std::stop_token cancel) {
    Call call{"stop", service, timeout, SteadyClock::now() + timeout, std::move(cancel)};
    if (auto ready = require_systemd(call); !ready) return ready.error();
    const std::string unit = systemd_unit_name(service);

    std::vector<std::string> stopped;
    if (with_dependents) {
        std::map<std::string, std::vector<std::string>> dependents_of;
        std::deque<std::string> to_explore{unit};
        std::set<std::string> explored{unit};
        while (!to_explore.empty() && explored.size() <= kMostUnitsExplored) {
            const auto current = to_explore.front();
            to_explore.pop_front();
            // --type=service also keeps systemd from expanding targets into unrelated units.
            auto listed = systemctl(call,
                                    {"list-dependencies", "--reverse", "--plain", "--full", "--no-legend",
                                     "--no-pager", "--type=service", current},
                                    /*must_succeed=*/true);
            if (!listed) return listed.error();
            auto& direct = dependents_of[current];
            for (auto& dependent : parse_dependency_list(listed.value().stdout_tail)) {
                if (!is_service_unit(dependent) || dependent == current) continue;
                direct.push_back(dependent);
                if (explored.insert(dependent).second) to_explore.push_back(dependent);
            }
        }
        const auto order = order_for_stopping(unit, dependents_of);
        if (!order.empty()) {
            auto states = active_states(call, order);
            if (!states) return states.error();
            for (std::size_t i = 0; i < order.size(); ++i) {
                if (!counts_as_running(states.value()[i])) continue;
                if (auto stop = systemctl(call, {"stop", order[i]}, /*must_succeed=*/true); !stop) {
                    auto failure = stop.error();
                    if (!stopped.empty()) {
                        failure.message += " certheal had already stopped " + join(stopped) +
                                           "; start them again once " + service + " is sorted out.";
                    }
                    return failure;
                }
                stopped.push_back(order[i]);
            }
        }
    }
    if (auto stop = systemctl(call, {"stop", unit}, /*must_succeed=*/true); !stop) {
        auto failure = stop.error();
        if (!stopped.empty()) failure.message += " certheal had already stopped its dependents " + join(stopped) + ".";
        return failure;
    }
    return stopped;
}

Result<Done> SystemdServiceManager::start_service(const std::string& service, Duration timeout, std::stop_token cancel) {
    Call call{"start", service, timeout, SteadyClock::now() + timeout, std::move(cancel)};
    if (auto ready = require_systemd(call); !ready) return ready.error();
    const std::string unit = systemd_unit_name(service);

    auto listed = systemctl(call,
                            {"list-dependencies", "--plain", "--full", "--no-legend", "--no-pager", "--type=service",
                             unit},
                            /*must_succeed=*/true);
    if (!listed) return listed.error();
    std::vector<std::string> dependencies;
    for (auto& dependency : parse_dependency_list(listed.value().stdout_tail)) {
        if (is_service_unit(dependency) && dependency != unit) dependencies.push_back(std::move(dependency));
    }
    if (!dependencies.empty()) {
        auto states = active_states(call, dependencies);
        if (!states) return states.error();
        for (std::size_t i = 0; i < dependencies.size(); ++i) {
            if (counts_as_running(states.value()[i])) continue;
            if (auto start = systemctl(call, {"start", dependencies[i]}, /*must_succeed=*/true); !start)
                return start.error();
        }
    }
    if (auto start = systemctl(call, {"start", unit}, /*must_succeed=*/true); !start) return start.error();

    // `systemctl start` returns when the start job is done; a unit can still be "activating"
    // (or have failed right after), so certheal waits for "active" itself.
    std::string last_state;
    for (;;) {
        auto states = active_states(call, {unit});
        if (!states) return states.error();
        last_state = states.value().front();
        if (last_state == "active") return success();
        if (last_state == "failed" || last_state == "inactive") {
            std::string sentence = "systemd reports " + unit;
            sentence += " as " + last_state + " right after certheal started it. See `journalctl -u ";
            sentence += unit + "` for why it stopped.";
            return Failure{std::make_error_code(std::errc::state_not_recoverable), std::move(sentence)};
        }
        std::mutex mutex;
        std::condition_variable_any wake;
        std::unique_lock lock(mutex);
        const auto pause = std::min<SteadyClock::duration>(kActivePollInterval, call.deadline - SteadyClock::now());
        if (pause <= SteadyClock::duration::zero()) break;
        wake.wait_for(lock, call.cancel, pause, [] { return false; });
        if (call.cancel.stop_requested()) {
            return Failure{std::make_error_code(std::errc::operation_canceled),
                           "certheal is shutting down, so it stopped waiting for " + unit + " to become active."};
        }
    }
    return Failure{std::make_error_code(std::errc::timed_out),
                   "Service " + service + " did not become active within " + format_duration(timeout) +
                       "; systemd last reported it as " + last_state + ". See `systemctl status " + unit + "`."};
}

}  // namespace certheal
