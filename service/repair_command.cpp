// `certheal repair`: the workflow now, by hand, under the host-wide repair lock and the budget.

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "core/policy/repair_policy.hpp"
#include "core/record/status_report.hpp"
#include "core/repair/repair_details.hpp"
#include "core/repair/repair_ladder.hpp"
#include "core/runtime/asio_runtime.hpp"
#include "service/command_support.hpp"
#include "service/exit_code.hpp"
#include "service/operator_commands.hpp"
#include "service/platform.hpp"
#include "service/ports.hpp"

namespace certheal::cli {
namespace {

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
    facts.probe_class = ProbeClass::healthy;
    for (const auto& result : results) {
        std::cerr << "Before the repair, site " << result.site << " is " << to_string(result.probe_class)
                  << (result.status ? " (HTTP " + std::to_string(*result.status) + ")" : std::string()) << ".\n";
        if (result.probe_class != ProbeClass::healthy && facts.probe_class == ProbeClass::healthy) facts.probe_class = result.probe_class;
    }
    return facts;
}


}  // namespace

namespace {

// The events of one repair by hand, each with its incident and the command's clock.
struct IncidentEvents {
    void emit(EventId id, std::string message, nlohmann::json details) const {
        Event event;
        event.id = id;
        event.time = clock.wall_now();
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
                  << (facts.probe_class ? to_string(*facts.probe_class) : "unknown") << "):\n";
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
        if (result.probe_class == ProbeClass::healthy) continue;
        still_unhealthy.push_back(result.site + " (" + std::string(to_string(result.probe_class)) + ")");
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

    const IncidentEvents events{clock, sinks.events, make_incident_id(clock.wall_now(), 0)};
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

}  // namespace certheal::cli
