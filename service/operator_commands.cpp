#include "service/operator_commands.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "core/runtime/asio_runtime.hpp"
#include "core/base/bounded_input.hpp"
#include "core/record/file_state_store.hpp"
#include "core/probe/https_prober.hpp"
#include "core/record/journal.hpp"
#include "core/repair/preflight.hpp"
#include "core/policy/repair_policy.hpp"
#include "core/record/status_report.hpp"
#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "service/exit_code.hpp"
#include "service/options.hpp"
#include "service/command_support.hpp"
#include "service/diagnose_command.hpp"
#include "service/platform.hpp"
#include "service/start_checks.hpp"
#include "service/status_view.hpp"

namespace certheal::cli {
namespace {

// status.json holds a few hundred bytes per site: far more than thousands of sites need.
constexpr std::size_t kMaxStatusBytes = std::size_t{64} * 1024 * 1024;
// How long `certheal resume` waits for the running service to confirm.
constexpr auto kResumeConfirmation = std::chrono::seconds(10);

// What resume, pause and unpause open in the state folder to change the saved state without
// the service: the state under its lock, and the journal and system log for their events.
struct SavedStateSession {
    explicit SavedStateSession(const std::filesystem::path& state_dir)
        : adapters(platform::make_adapters()),
          clock(io),
          state(state_dir, *adapters.own_files, platform::make_state_lock(state_dir)),
          journal(state_dir, *adapters.own_files),
          sinks(journal, *adapters.system_log) {}

    platform::Adapters adapters;
    boost::asio::io_context io;
    AsioClock clock;
    FileStateStore state;
    JournalSink journal;
    CommandEvents sinks;
};

// Read without following a link or waiting on a FIFO planted at the name (OwnFiles).
std::optional<nlohmann::json> read_json_file(OwnFiles& files, const std::filesystem::path& file, std::string_view what,
                                             std::size_t limit, std::string& problem) {
    auto text = files.read(file, limit);
    if (!text) {
        problem = std::string(what) + ": " + text.error().message;
        return std::nullopt;
    }
    if (!text.value()) return std::nullopt;
    auto parsed = parse_json_bounded(*text.value());
    if (!parsed.value) {
        problem = std::string(what) + " " + file.string() + " is not valid JSON: " + parsed.error;
        return std::nullopt;
    }
    return std::move(parsed.value);
}


}  // namespace

// --- certheal resume ------------------------------------------------------------------------------

int command_resume(const Options& options) {
    auto config = load_config_or_report(options, nullptr);
    if (!config) return usage;
    // Resuming lets the configured steps run again: the same rule as run and repair.
    if (refuse_unprotected_config(options, *config, "resume")) return usage;
    const auto& state_dir = config->service.state_dir;

    if (const auto running = platform::find_running_service(state_dir)) {
        const auto state_file = state_dir / "state.json";
        std::error_code ignored;
        const auto before = std::filesystem::last_write_time(state_file, ignored);
        if (auto asked = platform::ask_service_to_resume(*running); !asked) {
            std::cerr << asked.error().message << ".\n";
            return runtime_failure;
        }
        // The service answers by saving its state (circuit closed, no attempts): wait for that,
        // briefly, to say whether it happened.
        const auto deadline = std::chrono::steady_clock::now() + kResumeConfirmation;
        while (std::chrono::steady_clock::now() < deadline) {
            std::error_code error;
            if (std::filesystem::last_write_time(state_file, error) != before && !error) {
                std::cout << "The running certheal (pid " << running->pid << ", found through " << running->found_by
                          << ") closed its repair circuit breaker and cleared its repair budget; see circuit_closed "
                             "in certheal history.\n";
                return ok;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        std::cerr << "certheal asked the running certheal (pid " << running->pid
                  << ") to resume, but it did not save a new state within "
                  << std::chrono::duration_cast<std::chrono::seconds>(kResumeConfirmation).count()
                  << " s; a repair may be running (it is then refused). Check certheal history.\n";
        return runtime_failure;
    }

    // No service runs: change the saved state ourselves, under the repair lock.
    if (refuse_unprotected_state_folder(*config, "resume")) return usage;
    std::error_code dir_error;
    std::filesystem::create_directories(state_dir, dir_error);
    const auto lock = platform::make_repair_lock(state_dir);
    const auto taken = lock->try_acquire();
    if (!taken) {
        std::cerr << taken.error().message << ".\n";
        return runtime_failure;
    }
    if (!taken.value()) {
        std::cerr << "certheal resume did nothing: a repair is running on this host (certheal repair); run it again "
                     "when that repair has finished.\n";
        return runtime_failure;
    }
    SavedStateSession session(state_dir);
    auto& state = session.state;
    auto& journal = session.journal;
    auto& events = session.sinks.events;
    RepairPolicy policy(config->remediation, session.clock, state, events);
    if (const auto warning = policy.load()) std::cerr << *warning << '\n';
    policy.reset_circuit("certheal resume, with no certheal service running");
    lock->release();
    if (!journal.flush_pending()) {
        std::cerr << "certheal resume could not write its event to the journal " << journal.path().string() << ".\n";
        return runtime_failure;
    }
    return ok;
}

// --- certheal pause / unpause --------------------------------------------------------------------

namespace {

// The pause and its end are saved by the command itself, under the state lock, whether or not
// the service runs: the service re-reads the saved state before every repair decision, so it
// holds a repair even if it never hears of the pause. Told at once, it also shows the pause in
// its status and ends it on time.
int change_pause(const Options& options, bool pausing) {
    const std::string command = pausing ? "pause" : "unpause";
    auto config = load_config_or_report(options, nullptr);
    if (!config) return usage;
    if (options.site) {
        const bool known = std::any_of(config->sites.begin(), config->sites.end(),
                                       [&](const SiteConfig& site) { return site.name == *options.site; });
        // An unpause may end the pause of a site removed from the configuration since.
        if (!known && pausing) {
            std::cerr << "certheal " << command << ": no site named '" << *options.site << "' in "
                      << config_path_of(options).string() << ". Its sites: " << join_site_names(config->sites)
                      << ".\n";
            return usage;
        }
    }
    if (refuse_unprotected_state_folder(*config, command)) return usage;
    const auto& state_dir = config->service.state_dir;
    std::error_code dir_error;
    std::filesystem::create_directories(state_dir, dir_error);

    SavedStateSession session(state_dir);
    auto& state = session.state;
    auto& journal = session.journal;
    // Whether the change reached state.json: storage_failed says so (RepairPolicy::after_save).
    struct SaveWatch final : EventSink {
        explicit SaveWatch(EventSink& sink) : next(sink) {}
        void emit(const Event& event) override {
            if (event.id == EventId::storage_failed) failed = true;
            next.emit(event);
        }
        EventSink& next;
        bool failed = false;
    } events(session.sinks.events);
    RepairPolicy policy(config->remediation, session.clock, state, events);
    if (const auto warning = policy.load()) std::cerr << *warning << '\n';
    const std::string who = platform::current_user_name();
    const std::string site = options.site.value_or("");

    int ended = 0;
    if (pausing) {
        policy.pause(site, options.pause_for, who, options.reason.value_or(""));
    } else {
        ended = policy.unpause(site, who);
    }
    if (events.failed) {
        std::cerr << "certheal " << command << " could not save the " << (pausing ? "pause" : "end of the pause")
                  << " in " << state.path().string() << "; nothing changed.\n";
        return runtime_failure;
    }
    if (!pausing && ended == 0) {
        std::cout << (site.empty() ? std::string("Nothing was paused")
                                   : "Site " + site + " had no pause of its own")
                  << (site.empty() || !policy.pause_holding({}) ? "" : " (the host's pause goes on: certheal unpause)")
                  << ".\n";
    }
    if (const auto running = platform::find_running_service(state_dir); running && (pausing || ended > 0)) {
        if (auto told = platform::ask_service_to_reread_pauses(*running); !told) {
            std::cerr << as_clause(told.error().message) << ". The " << (pausing ? "pause" : "end of the pause")
                      << " is saved, and the running certheal (pid " << running->pid
                      << ") reads it before any repair; its status shows it once it reads the state again.\n";
        }
    }
    if (!journal.flush_pending()) {
        std::cerr << "certheal " << command << " could not write its event to the journal "
                  << journal.path().string() << "; it is in the system log.\n";
    }
    return ok;
}

}  // namespace

int command_pause(const Options& options) { return change_pause(options, /*pausing=*/true); }
int command_unpause(const Options& options) { return change_pause(options, /*pausing=*/false); }

// --- certheal status ------------------------------------------------------------------------------

int command_status(const Options& options, const Clock& clock) {
    auto loaded = load_config(config_path_of(options), platform::config_context());
    const bool config_ok = loaded.config.has_value();
    const auto state_dir = config_ok ? loaded.config->service.state_dir : platform::default_state_dir();

    nlohmann::json report = {{"state_dir", state_dir.string()}, {"config_valid", config_ok}};
    const auto running = platform::find_running_service(state_dir);
    report["service"] = running ? nlohmann::json{{"running", true}, {"pid", running->pid}, {"found_by", running->found_by}}
                                : nlohmann::json{{"running", false}};

    std::vector<std::string> problems;
    std::string problem;
    const auto files = platform::make_own_files();
    auto live = read_json_file(*files, state_dir / "status.json", "certheal's status file", kMaxStatusBytes, problem);
    if (!problem.empty()) problems.push_back(problem);
    report["status"] = live ? *live : nlohmann::json(nullptr);
    problem.clear();
    auto saved = read_json_file(*files, state_dir / "state.json", "certheal's saved state", FileStateStore::kMaxStateBytes,
                                problem);
    if (!problem.empty()) problems.push_back(problem);
    report["state"] = saved ? *saved : nlohmann::json(nullptr);
    // What the configuration says, for when no service says what is in force.
    report["configured_remediation"] =
        config_ok ? remediation_document(loaded.config->remediation.enabled, loaded.config->remediation.dry_run)
                  : nlohmann::json(nullptr);

    const auto stores = platform::make_certificate_stores();
    nlohmann::json host_warnings = nlohmann::json::array();
    for (const auto& finding : check_root_store(*stores)) host_warnings.push_back(finding.message);
    report["host_warnings"] = host_warnings;
    // Windows: the host trust diagnosis now, and its fingerprint (a farm node that drifted
    // stands out). Without a valid config there are no sites to diagnose.
    std::optional<HostDiagnosis> diagnosis;
    if (config_ok) diagnosis = diagnose_now(loaded.config->sites, clock);
    report["host_trust"] = diagnosis ? host_trust_status_json(*diagnosis) : nlohmann::json(nullptr);
    report["problems"] = problems;

    const auto verdict = judge_status(report);
    report["health"] = to_string(verdict.health);
    if (options.json) {
        std::cout << report.dump() << '\n';
    } else {
        std::cout << render_status(report, verdict, clock.wall_now(), options.wide);
        if (diagnosis) {
            std::cout << "host trust fingerprint: " << diagnosis->fingerprint.value << '\n';
            for (const auto& site : diagnosis->sites) std::cout << "host trust: " << host_trust_line(site) << '\n';
        }
    }
    return exit_code_of(verdict);
}

}  // namespace certheal::cli
