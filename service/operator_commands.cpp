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
#include "core/repair/repair_details.hpp"
#include "core/repair/repair_ladder.hpp"
#include "service/exit_code.hpp"
#include "service/options.hpp"
#include "service/console_echo.hpp"
#include "service/diagnose_command.hpp"
#include "service/platform.hpp"
#include "service/ports.hpp"
#include "service/start_checks.hpp"
#include "service/status_view.hpp"

namespace certheal::cli {
namespace {

// status.json holds a few hundred bytes per site: far more than thousands of sites need.
constexpr std::size_t kMaxStatusBytes = std::size_t{64} * 1024 * 1024;
// How long `certheal resume` waits for the running service to confirm.
constexpr auto kResumeConfirmation = std::chrono::seconds(10);

std::filesystem::path config_path_of(const Options& options) {
    return options.config ? *options.config : platform::default_config_path();
}

std::optional<Config> load_config_or_report(const Options& options, std::shared_ptr<TlsMaterialCache> material) {
    auto context = platform::config_context();
    context.tls_material = std::move(material);
    auto loaded = load_config(config_path_of(options), context);
    for (const auto& issue : loaded.issues) std::cerr << format_issue(issue) << '\n';
    return std::move(loaded.config);
}

// The steps run with full privileges: the same start checks as `certheal run`.
bool refuse_unprotected_config(const Options& options, const Config& config, const std::string& command) {
    const auto problems = start_problems(config_path_of(options), config);
    for (const auto& problem : problems) std::cerr << "certheal " << command << " refused to run: " << problem.sentence << '\n';
    return !problems.empty();
}

std::string join_site_names(const std::vector<SiteConfig>& sites) {
    return join(sites, ", ", [](const SiteConfig& site) { return site.name; });
}

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

// The files these commands write as root go into the state folder: the same rule as `run`.
bool refuse_unprotected_state_folder(const Config& config, const std::string& command) {
    const auto problem = platform::folder_protection_problem(config.service.state_dir, "the state folder");
    if (!problem) return false;
    std::cerr << "certheal " << command << " refused to run: " << *problem
              << ". certheal writes its journal and state there with full privileges, so only administrators may be "
                 "able to change that folder. Fix its owner and permissions, or choose another service.state_dir.\n";
    return true;
}

// Where an operator's command writes its events: the journal, the system log and the console,
// each marked "manual": true.
struct CommandEvents {
    CommandEvents(JournalSink& journal, EventSink& system_log) {
        all.add(journal);
        all.add(system_log);
        all.add(echo);
    }
    CommandEvents(const CommandEvents&) = delete;
    CommandEvents& operator=(const CommandEvents&) = delete;

    ConsoleEcho echo;
    FanOutSink all;
    ManualEventSink events{all};
};

// One probe of each site before a ladder: the class of the first unhealthy one is the incident's
// (a stage's `when` matches it); every site healthy: healthy.
IncidentFacts probe_before_repair(boost::asio::io_context& io, SiteProber& prober, const std::vector<SiteConfig>& sites) {
    std::vector<ProbeResult> results(sites.size());
    std::size_t pending = sites.size();
    for (std::size_t index = 0; index < sites.size(); ++index) {
        prober.probe(sites[index], [&, index](ProbeResult result) {
            results[index] = std::move(result);
            if (--pending == 0) io.stop();
        });
    }
    if (pending > 0) io.run_for(std::chrono::minutes(5));
    io.restart();
    IncidentFacts facts;
    facts.cls = ProbeClass::healthy;
    for (const auto& result : results) {
        std::cerr << "Before the repair, site " << result.site << " is " << to_string(result.cls)
                  << (result.status ? " (HTTP " + std::to_string(*result.status) + ")" : std::string()) << ".\n";
        if (result.cls != ProbeClass::healthy && facts.cls == ProbeClass::healthy) facts.cls = result.cls;
    }
    return facts;
}

}  // namespace

// --- certheal repair ------------------------------------------------------------------------------

namespace {

// The events of one repair by hand, each with its incident and the command's clock.
struct IncidentEvents {
    void emit(EventId id, std::string message, nlohmann::json details) const {
        Event event;
        event.id = id;
        event.time = clock.now();
        event.incident = incident;
        event.message = std::move(message);
        event.details = std::move(details);
        sink.emit(event);
    }

    const Clock& clock;
    EventSink& sink;
    std::string incident;
};

std::vector<SiteConfig> sites_to_repair(const Options& options, const Config& config) {
    std::vector<SiteConfig> sites;
    for (const auto& site : config.sites) {
        if (!options.site || site.name == *options.site) sites.push_back(site);
    }
    return sites;
}

// The ladder's plan on stdout, then repair_started.
void announce_repair(const IncidentEvents& events, const Options& options, const RemediationConfig& remediation,
                     const std::vector<SiteConfig>& sites, const IncidentFacts& facts, bool dry_run,
                     const RepairPolicy& policy) {
    const bool ladder = !remediation.stages.empty();
    const auto plan = plan_ladder(remediation, facts, sites);
    if (ladder) {
        std::cout << "Repair ladder for " << join_site_names(sites) << " (class "
                  << (facts.cls ? to_string(*facts.cls) : "unknown") << "):\n";
        for (const auto& line : ladder_plan_lines(plan)) std::cout << "  " << line << '\n';
        std::cout.flush();
    }
    nlohmann::json names = nlohmann::json::array();
    for (const auto& site : sites) names.push_back(site.name);
    nlohmann::json details =
        repair_started_details(std::move(names), remediation, plan, dry_run, policy.attempts_in_window());
    details["forced"] = options.force;
    events.emit(EventId::repair_started,
                std::string(dry_run ? "An operator started a dry run of a repair by hand (certheal repair) with "
                                    : "An operator started a repair by hand (certheal repair) with ") +
                    (ladder ? std::to_string(remediation.stages.size()) + " stage(s), least disruptive first"
                            : std::to_string(remediation.steps.size()) + " step(s)") +
                    (dry_run ? "; nothing is changed."
                             : " (attempt " + std::to_string(policy.attempts_in_window()) + " of " +
                                   std::to_string(policy.max_attempts()) + " in the window)."),
                std::move(details));
}

// Without a verify step, one probe of each site says whether the repair helped: the sites that
// are still not healthy, "name (class)" each.
std::vector<std::string> probe_after_repair(boost::asio::io_context& io, SiteProber& prober,
                                            const std::vector<SiteConfig>& sites) {
    io.restart();
    std::vector<ProbeResult> checked(sites.size());
    for (std::size_t index = 0; index < sites.size(); ++index) {
        prober.probe(sites[index], [&checked, index](ProbeResult result) { checked[index] = std::move(result); });
    }
    io.run_for(std::chrono::minutes(5));
    std::vector<std::string> still_unhealthy;
    for (const auto& result : checked) {
        if (result.cls == ProbeClass::healthy) continue;
        still_unhealthy.push_back(result.site + " (" + std::string(to_string(result.cls)) + ")");
    }
    return still_unhealthy;
}

// repair_succeeded or repair_failed (a dry run: a line on stderr).
void report_repair(const IncidentEvents& events, const std::optional<RepairLadder::Outcome>& outcome, bool dry_run,
                   bool ladder, bool succeeded, const std::vector<std::string>& still_unhealthy,
                   const RepairPolicy& policy) {
    if (dry_run) {
        std::cerr << "Dry run of repair " << events.incident << " finished: every "
                  << (ladder ? "stage and step" : "step") << " above says what it would do.\n";
    } else if (succeeded && ladder) {
        events.emit(EventId::repair_succeeded,
                    "The repair by hand succeeded: the sites were healthy after stage " +
                        std::to_string(outcome->stage_number.value_or(0)) + " of " +
                        std::to_string(outcome->stage_count) + ".",
                    ladder_succeeded_details(*outcome, policy.attempts_in_window()));
    } else if (succeeded) {
        events.emit(EventId::repair_succeeded,
                    std::string("The repair by hand succeeded: every step ran and ") +
                        (outcome->verified ? "the verify step saw every site healthy."
                                           : "one probe of each site after the last step was healthy."),
                    {{"duration_ms", repair_duration_ms(&*outcome)},
                     {"verified", true},
                     {"attempts_in_window", policy.attempts_in_window()}});
    } else {
        std::string why;
        if (!outcome) {
            why = "it did not finish";
        } else if (outcome->cancelled) {
            why = "it was stopped before it finished (" + as_clause(outcome->error) + ")";
        } else if (!outcome->succeeded) {
            why = as_clause(outcome->error);
        } else {
            why = "every step ran, but these sites are still not healthy: " +
                  join(still_unhealthy, ", ", [](const std::string& text) { return text; });
        }
        events.emit(EventId::repair_failed,
                    "The repair by hand failed; check its error and the sites by hand before you repair again.",
                    repair_failed_details(outcome ? &*outcome : nullptr, why, policy.attempts_in_window()));
    }
}

}  // namespace

int command_repair(const Options& options) {
    auto material = std::make_shared<TlsMaterialCache>();
    auto config = load_config_or_report(options, material);
    if (!config) return usage;
    if (refuse_unprotected_config(options, *config, "repair")) return usage;
    if (refuse_unprotected_state_folder(*config, "repair")) return usage;
    const auto sites = sites_to_repair(options, *config);
    if (sites.empty()) {
        std::cerr << "certheal repair: no site named '" << options.site.value_or("") << "' in "
                  << config_path_of(options).string() << ".\n";
        return usage;
    }
    const bool dry_run = options.dry_run || config->remediation.dry_run;
    std::error_code dir_error;
    std::filesystem::create_directories(config->service.state_dir, dir_error);

    auto adapters = platform::make_adapters();
    boost::asio::io_context io;
    AsioClock clock(io);
    const auto ports = wire_ports(*config, io, clock, adapters, material);
    auto& journal = ports->journal;
    CommandEvents sinks(journal, *adapters.system_log);
    RepairPolicy policy(config->remediation, clock, ports->state, sinks.events);
    policy.set_host_lock(ports->repair_lock.get());
    if (const auto warning = policy.load()) std::cerr << *warning << '\n';

    const IncidentEvents events{clock, sinks.events, make_incident_id(clock.now(), 0)};
    const auto decision = policy.request_manual(events.incident, dry_run, options.force, options.site.value_or(""));
    if (!decision.allowed()) {
        nlohmann::json skipped = decision.details;
        skipped["reason"] = std::string(to_string(decision.verdict));
        events.emit(EventId::repair_skipped, decision.reason_sentence, std::move(skipped));
        return runtime_failure;
    }
    const auto& remediation = config->remediation;
    const bool ladder = !remediation.stages.empty();
    // A ladder's stages match the incident's class: one probe of each site says what it is.
    const IncidentFacts facts = ladder ? probe_before_repair(io, ports->prober, sites) : IncidentFacts{};
    announce_repair(events, options, remediation, sites, facts, dry_run, policy);

    RepairLadder workflow(ports->workflow_ports(sinks.events));
    std::optional<RepairLadder::Outcome> outcome;
    // Ctrl+C (or SIGTERM) stops the repair the way the service stops: the current step ends or
    // is abandoned safely, no further step starts.
    auto controls = platform::watch_console_controls(io, [&](platform::ControlRequest request, const std::string&) {
        if (request == platform::ControlRequest::stop) workflow.cancel();
    });
    workflow.start(remediation, events.incident, facts, sites, dry_run, [&](RepairLadder::Outcome finished) {
        outcome = std::move(finished);
        io.stop();
    });
    io.run();
    controls.reset();

    bool healthy_after = outcome && outcome->verified;
    std::vector<std::string> still_unhealthy;
    if (outcome && outcome->succeeded && !outcome->cancelled && !outcome->verified && !dry_run) {
        still_unhealthy = probe_after_repair(io, ports->prober, sites);
        healthy_after = still_unhealthy.empty();
    }
    const bool succeeded = outcome && outcome->succeeded && !outcome->cancelled && (dry_run || healthy_after);
    policy.finished(events.incident, succeeded);
    report_repair(events, outcome, dry_run, ladder, succeeded, still_unhealthy, policy);
    ports->workers.join();
    if (!journal.flush_pending()) {
        std::cerr << "certheal repair could not write " << journal.pending() << " event(s) to its journal "
                  << journal.path().string() << "; they are in the system log.\n";
    }
    return succeeded ? ok : unhealthy;
}

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
    auto adapters = platform::make_adapters();
    boost::asio::io_context io;
    AsioClock clock(io);
    FileStateStore state(state_dir, *adapters.own_files, platform::make_state_lock(state_dir));
    JournalSink journal(state_dir, *adapters.own_files);
    CommandEvents sinks(journal, *adapters.system_log);
    auto& events = sinks.events;
    RepairPolicy policy(config->remediation, clock, state, events);
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

    auto adapters = platform::make_adapters();
    boost::asio::io_context io;
    AsioClock clock(io);
    FileStateStore state(state_dir, *adapters.own_files, platform::make_state_lock(state_dir));
    JournalSink journal(state_dir, *adapters.own_files);
    CommandEvents sinks(journal, *adapters.system_log);
    // Whether the change reached state.json: storage_failed says so (RepairPolicy::after_save).
    struct SaveWatch final : EventSink {
        explicit SaveWatch(EventSink& sink) : next(sink) {}
        void emit(const Event& event) override {
            if (event.id == EventId::storage_failed) failed = true;
            next.emit(event);
        }
        EventSink& next;
        bool failed = false;
    } events(sinks.events);
    RepairPolicy policy(config->remediation, clock, state, events);
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
        std::cout << render_status(report, verdict, clock.now(), options.wide);
        if (diagnosis) {
            std::cout << "host trust fingerprint: " << diagnosis->fingerprint.value << '\n';
            for (const auto& site : diagnosis->sites) std::cout << "host trust: " << host_trust_line(site) << '\n';
        }
    }
    return exit_code_of(verdict);
}

}  // namespace certheal::cli
