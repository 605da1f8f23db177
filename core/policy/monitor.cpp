#include "core/policy/monitor.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "core/probe/certificate_info.hpp"
#include "core/probe/client_cert_selection.hpp"
#include "core/repair/certificate_trust.hpp"
#include "core/probe/tls_files.hpp"
#include "core/base/time_format.hpp"
#include "core/base/text.hpp"

namespace certheal {
namespace {

constexpr auto kCertificateCheckInterval = std::chrono::hours(24);
constexpr auto kCertificateWarningHorizon = std::chrono::hours(24 * 30);
// A host trust diagnosis younger than this is good enough for a symptom or a repair: the one made
// when the symptom was confirmed serves the repair that follows at once.
constexpr Duration kFreshDiagnosis = std::chrono::seconds(10);

std::string join_names(const std::vector<SiteConfig>& sites) {
    return join(sites, ", ", [](const SiteConfig& site) { return site.name; });
}

// The probe's error as a clause inside a longer sentence: without its final period.
std::string error_clause(const ProbeResult& result) {
    if (!result.error || result.error->empty()) return {};
    return ": " + as_clause(*result.error);
}

std::string describe_outcome(const ProbeResult& result) {
    std::string text{to_string(result.cls)};
    if (result.status) {
        text += " (HTTP " + std::to_string(*result.status);
        if (result.iis_substatus) text += "." + std::to_string(*result.iis_substatus);
        text += ")";
    }
    if (result.tls_alert) text += " (TLS alert " + *result.tls_alert + ")";
    return text;
}

}  // namespace

Monitor::Monitor(MonitorPorts ports)
    : ports_(ports), host_trust_(ports.host_trust, ports.stores, ports.workers, ports.clock) {
    host_trust_.on_fingerprint_change(
        [this](const HostTrustFingerprint& before, const HostDiagnosis& now) { report_host_trust_change(before, now); });
}

Monitor::~Monitor() = default;

void Monitor::emit(EventId id, const EventSubject& about, std::string message, nlohmann::json details) {
    Event event;
    event.id = id;
    event.time = ports_.clock.now();
    event.site = about.site;
    event.incident = about.incident;
    event.message = std::move(message);
    event.details = std::move(details);
    ports_.events.emit(event);
}

void Monitor::start(Config config) {
    config_ = std::move(config);
    running_ = true;
    policy_ = std::make_unique<RepairPolicy>(config_.remediation, ports_.clock, ports_.state, ports_.events);
    policy_->set_host_lock(ports_.repair_lock);
    workflow_ = std::make_unique<RepairLadder>(WorkflowPorts{ports_.services, ports_.processes, ports_.workers,
                                                             ports_.prober, ports_.clock, ports_.events, ports_.stores,
                                                             ports_.files, ports_.schannel, ports_.binding_trust});

    emit(EventId::service_started, {},
         "certheal " CERTHEAL_VERSION " started with configuration " + config_.source.string() + " and monitors " +
             std::to_string(config_.sites.size()) + " site(s): " + join_names(config_.sites) + "." +
             (config_.remediation.dry_run ? " Dry run is on: repairs are only logged, nothing is changed." : "") +
             (config_.remediation.enabled ? "" : " Remediation is disabled: certheal only reports."),
         {{"config", config_.source.string()},
          {"sites", config_.sites.size()},
          {"dry_run", config_.remediation.dry_run},
          {"remediation_enabled", config_.remediation.enabled},
          {"version", CERTHEAL_VERSION}});
    // After service_started, so that what reading the history says (a circuit that closed while
    // certheal was stopped, times from the future) follows it in the journal.
    const auto state_warning = policy_->load();
    policy_->close_circuit_on_time();
    policy_->on_change([this] { status_changed(); });
    if (state_warning) {
        emit(EventId::repair_skipped, {}, *state_warning + " The repair budget starts afresh.",
             {{"reason", "state_reset"}});
    }

    install_sites(config_.sites);
    record_client_certificate_expiry();
    check_certificates();
    check_root_store();
    refresh_host_trust(Duration::zero());
    status_changed();
}

void Monitor::install_sites(const std::vector<SiteConfig>& sites) {
    std::set<std::string> wanted;
    for (const auto& site : sites) {
        wanted.insert(site.name);
        auto found = sites_.find(site.name);
        if (found == sites_.end()) {
            auto [it, inserted] = sites_.emplace(
                site.name, SiteState(site, SiteHealth(site.failure_threshold, site.success_threshold)));
            schedule_probe(it->second, Duration::zero());
        } else {
            // Keep health and incident; new thresholds apply from the next probe on.
            auto& state = found->second;
            const bool thresholds_changed = state.config.failure_threshold != site.failure_threshold ||
                                            state.config.success_threshold != site.success_threshold;
            const bool interval_changed = state.config.interval != site.interval;
            state.config = site;
            if (thresholds_changed && !state.health.symptom_confirmed()) {
                state.health = SiteHealth(site.failure_threshold, site.success_threshold);
            }
            if (interval_changed && !state.probe_in_flight) schedule_probe(state, site.interval);
        }
    }
    for (auto it = sites_.begin(); it != sites_.end();) {
        if (wanted.count(it->first) == 0 && !it->second.probe_in_flight) {
            it = sites_.erase(it);
        } else if (wanted.count(it->first) == 0) {
            it->second.timer.reset();  // erased when its probe returns
            ++it;
        } else {
            ++it;
        }
    }
}

void Monitor::reload(Config config, std::size_t requests) {
    // Bound at start: the journal, state.json and the locks live in state_dir, and the endpoint
    // listens on status_listen. Switching them under a running service would split its records
    // (and its one-instance lock) between two folders, so the running value stays until a restart.
    nlohmann::json needs_restart = nlohmann::json::array();
    std::string restart_sentence;
    if (config.service.state_dir != config_.service.state_dir) {
        needs_restart.push_back("service.state_dir");
        restart_sentence += " service.state_dir changed from " + config_.service.state_dir.string() + " to " +
                            config.service.state_dir.string() + ", which needs a restart: certheal keeps using " +
                            config_.service.state_dir.string() + " until then.";
        config.service.state_dir = config_.service.state_dir;
    }
    const auto listen_text = [](const std::optional<ListenAddress>& listen) {
        return listen ? listen->text() : std::string("none");
    };
    if (listen_text(config.service.status_listen) != listen_text(config_.service.status_listen)) {
        needs_restart.push_back("service.status_listen");
        restart_sentence += " service.status_listen changed from " + listen_text(config_.service.status_listen) +
                            " to " + listen_text(config.service.status_listen) +
                            ", which needs a restart: the status endpoint stays as it is until then.";
        config.service.status_listen = config_.service.status_listen;
    }
    config_ = std::move(config);
    // The attempt history and the circuit stay: a reload never grants a fresh budget.
    policy_->update_config(config_.remediation);
    install_sites(config_.sites);
    nlohmann::json details = {{"config", config_.source.string()}, {"sites", config_.sites.size()}};
    if (!needs_restart.empty()) details["needs_restart"] = needs_restart;
    if (requests > 1) details["requests"] = requests;
    emit(EventId::config_reloaded, {},
         "certheal reloaded its configuration from " + config_.source.string() + " and now monitors " +
             std::to_string(config_.sites.size()) + " site(s): " + join_names(config_.sites) + "." +
             restart_sentence +
             (requests > 1 ? " (" + std::to_string(requests) + " reload requests came at once; one reload answered them.)"
                           : std::string()),
         std::move(details));
    record_client_certificate_expiry();
    check_root_store();
    refresh_host_trust(Duration::zero());
    status_changed();
}

void Monitor::schedule_probe(SiteState& site, Duration delay) {
    const std::string name = site.config.name;
    site.next_probe_at = ports_.clock.now() + delay;
    site.timer = ports_.clock.after(delay, [this, name] { probe_now(name); });
}

void Monitor::probe_now(const std::string& site_name) {
    auto found = sites_.find(site_name);
    if (!running_ || found == sites_.end()) return;
    auto& site = found->second;
    // While a repair runs the sites are expected to be down (services are restarting):
    // those probes would only add noise. The workflow's verify step does the probing.
    if (workflow_ && workflow_->running()) {
        schedule_probe(site, site.config.interval);
        return;
    }
    if (site.probe_in_flight) return;
    site.probe_in_flight = true;
    ports_.prober.probe(site.config, [this, site_name](ProbeResult result) {
        on_probe_result(site_name, std::move(result));
    });
}

void Monitor::on_probe_result(const std::string& site_name, ProbeResult result) {
    auto found = sites_.find(site_name);
    if (found == sites_.end()) return;
    auto& site = found->second;
    site.probe_in_flight = false;
    if (!running_) return;
    const bool still_configured = std::any_of(config_.sites.begin(), config_.sites.end(),
                                              [&](const SiteConfig& s) { return s.name == site_name; });
    if (!still_configured) {
        sites_.erase(found);
        return;
    }

    policy_->tick();  // saves the history again when the last save failed
    ++site.probes;
    ++site.class_counts[result.cls];
    const auto reading = reading_of(result, site.config);
    if (reading != SiteHealth::Reading::healthy) ++site.failed_probes;
    const auto now = ports_.clock.now();
    const bool class_changed = !site.last_result || site.last_result->cls != result.cls;
    const bool expiry_changed = !site.last_result || site.last_result->server_cert_not_after != result.server_cert_not_after;
    if (class_changed) site.class_since = now;
    site.last_probe_at = now;
    site.last_result = result;
    check_server_certificate(site, result);
    check_store_client_certificate(site, result);
    const bool was_confirmed = site.health.symptom_confirmed();
    const auto transition = site.health.record(reading);

    if (transition == SiteHealth::Transition::symptom_confirmed) {
        site.incident = next_incident_id();
        site.evidence = result;
        site.last_skip_reason.clear();
        site.dry_run_reported = false;
        site.non_symptom_reported = false;  // the symptom's events tell the rest of this run
        site.incident_cause.reset();
        // The host trust diagnosis runs first (on a worker, where there is one), so that the
        // event names the cause; the repair is considered after it.
        const std::string incident = site.incident;
        refresh_host_trust(kFreshDiagnosis, [this, site_name, incident] { confirm_symptom(site_name, incident); });
    } else if (transition == SiteHealth::Transition::recovered) {
        emit(EventId::site_recovered, {.site = site.config.name, .incident = site.incident},
             "Site " + site.config.name + " (" + site.config.url + ") is healthy again after " +
                 std::to_string(site.config.success_threshold) + " good probe(s); incident " + site.incident +
                 " is closed.",
             probe_evidence(result));
        site.incident.clear();
        site.evidence.reset();
    }
    report_unhealthy(site, result, reading, was_confirmed);

    if (site.health.symptom_confirmed() && reading == SiteHealth::Reading::symptomatic &&
        transition != SiteHealth::Transition::symptom_confirmed) {
        consider_repair(site);
    }
    // consider_repair may have started a repair; the next regular probe still gets scheduled
    // (probe_now skips while the repair runs).
    auto again = sites_.find(site_name);
    if (again != sites_.end() && running_) schedule_probe(again->second, again->second.config.interval);
    const bool significant = class_changed || expiry_changed || transition != SiteHealth::Transition::none;
    status_changed(significant ? StatusChange::significant : StatusChange::routine);
}

// probe_failed and probe_recovered: the journal says what changes, not every probe. A symptom
// class is said on every probe until it is confirmed (failure_threshold bounds them); a class
// that is not a symptom (a 500 all day) is said when a run of failures starts and each time its
// class changes, and probe_recovered ends the run. certheal_probe_class_total counts every probe.
void Monitor::report_unhealthy(SiteState& site, const ProbeResult& result, SiteHealth::Reading reading,
                               bool was_confirmed) {
    if (reading == SiteHealth::Reading::healthy) {
        if (site.non_symptom_reported && !site.health.symptom_confirmed()) {
            auto details = probe_evidence(result);
            details["failed_class"] = std::string(to_string(site.failing_class.value_or(ProbeClass::healthy)));
            details["failed_since"] = site.failing_since ? nlohmann::json(format_time_utc(*site.failing_since))
                                                         : nlohmann::json(nullptr);
            details["failed_probes"] = site.failing_probes;
            emit(EventId::probe_recovered, {.site = site.config.name},
                 "Site " + site.config.name + " (" + site.config.url + ") is healthy again after " +
                     std::to_string(site.failing_probes) + " failed probe(s) since " +
                     (site.failing_since ? format_time_utc(*site.failing_since) : std::string("-")) +
                     " (last " + std::string(to_string(site.failing_class.value_or(ProbeClass::healthy))) + ").",
                 std::move(details));
        }
        site.failing_class.reset();
        site.failing_since.reset();
        site.failing_probes = 0;
        site.non_symptom_reported = false;
        return;
    }
    const bool changed = site.failing_class != result.cls;
    if (!site.failing_class) site.failing_since = ports_.clock.now();
    site.failing_class = result.cls;
    ++site.failing_probes;
    if (was_confirmed || site.health.symptom_confirmed()) return;  // the incident's events tell it

    const bool symptom = reading == SiteHealth::Reading::symptomatic;
    if (!symptom && !changed) return;  // the same class as the probe before: counted, not written
    if (!symptom) site.non_symptom_reported = true;
    emit(EventId::probe_failed, {.site = site.config.name},
         "Probe of site " + site.config.name + " (" + site.config.url + ") returned " + describe_outcome(result) +
             error_clause(result) + "." +
             (symptom ? " " + std::to_string(site.health.consecutive_symptomatic()) + " of " +
                            std::to_string(site.config.failure_threshold) +
                            " consecutive failures needed to confirm the symptom."
                      : " This class is not configured as a symptom; certheal only reports it, again when the class "
                        "changes, and with probe_recovered when the site is healthy again."),
         [&] {
             auto details = probe_evidence(result);
             details["consecutive"] = site.health.consecutive_symptomatic();
             return details;
         }());
}

void Monitor::report_skip(SiteState& site, const RepairPolicy::Decision& decision) {
    std::string reason;
    switch (decision.verdict) {
        case RepairPolicy::Decision::Verdict::disabled: reason = "disabled"; break;
        case RepairPolicy::Decision::Verdict::paused: reason = "paused"; break;
        case RepairPolicy::Decision::Verdict::busy: reason = "busy"; break;
        case RepairPolicy::Decision::Verdict::cooldown: reason = "cooldown"; break;
        case RepairPolicy::Decision::Verdict::budget_spent: reason = "budget"; break;
        case RepairPolicy::Decision::Verdict::circuit_open: reason = "circuit"; break;
        case RepairPolicy::Decision::Verdict::lock_unavailable: reason = "lock_unavailable"; break;
        case RepairPolicy::Decision::Verdict::allowed: reason = "dry_run"; break;
    }
    if (site.last_skip_reason == reason) return;  // once per reason per incident: no flood
    site.last_skip_reason = reason;
    nlohmann::json details = with_host_trust({{"reason", reason}, {"evidence", probe_evidence(*site.last_result)}},
                                             site.config.name);
    if (decision.retry_after) details["retry_after"] = format_time_utc(*decision.retry_after);
    emit(EventId::repair_skipped, {.site = site.config.name, .incident = site.incident},
         "certheal did not repair site " + site.config.name + ": " + decision.reason_sentence, std::move(details));
}

void Monitor::confirm_symptom(const std::string& site_name, const std::string& incident) {
    auto found = sites_.find(site_name);
    if (!running_ || found == sites_.end() || found->second.incident != incident || !found->second.evidence) return;
    auto& site = found->second;
    site.incident_cause = host_trust_.cause_of(site_name);
    const ProbeResult& result = *site.evidence;
    std::string diagnosis;
    if (const auto* latest = host_trust_.latest(); latest != nullptr && site.incident_cause &&
                                                   *site.incident_cause != TrustCause::none_found) {
        if (const auto* found_site = latest->site(site_name); found_site && !found_site->findings.empty()) {
            diagnosis = " The host trust diagnosis names the cause " + std::string(to_string(*site.incident_cause)) +
                        ": " + found_site->findings.front().sentence;
        }
    }
    emit(EventId::symptom_confirmed, {.site = site.config.name, .incident = site.incident},
         "Site " + site.config.name + " (" + site.config.url + ") failed " +
             std::to_string(site.config.failure_threshold) + " probe(s) in a row with " + describe_outcome(result) +
             error_clause(result) + ". certheal treats this as the client-certificate symptom and considers a repair." +
             diagnosis,
         with_host_trust(probe_evidence(result), site_name));
    if (site.health.symptom_confirmed() && site.last_result &&
        reading_of(*site.last_result, site.config) == SiteHealth::Reading::symptomatic) {
        consider_repair(site);
    }
}

void Monitor::consider_repair(SiteState& trigger) {
    if (stopping_) return;
    // The running repair verifies every confirmed site; a diagnosis about to start one is the same.
    if (workflow_->running() || diagnosing_before_repair_) return;
    if (config_.remediation.dry_run && trigger.dry_run_reported) return;
    // Before a repair the host trust is diagnosed again (unless that just happened), so the
    // repair's events say what it was for. Only when the policy would let a repair start: a
    // diagnosis on every probe of a cooling-down incident would be waste.
    const bool may_start = config_.remediation.enabled && !policy_->busy() &&
                           !policy_->pause_holding(trigger.config.name) && policy_->next_allowed() <= ports_.clock.now();
    if (may_start && host_trust_.stale(kFreshDiagnosis)) {
        diagnosing_before_repair_ = true;
        const std::string name = trigger.config.name;
        const std::string incident = trigger.incident;
        host_trust_.refresh(config_.sites, kFreshDiagnosis, [this, name, incident] {
            diagnosing_before_repair_ = false;
            auto found = sites_.find(name);
            if (!running_ || stopping_ || found == sites_.end() || found->second.incident != incident) return;
            if (workflow_->running() || !found->second.health.symptom_confirmed()) return;
            found->second.incident_cause = host_trust_.cause_of(name);
            decide_repair(found->second);
        });
        return;
    }
    decide_repair(trigger);
}

void Monitor::decide_repair(SiteState& trigger) {
    if (no_stage_matches(trigger)) return;
    auto decision = policy_->request(trigger.incident, config_.remediation.dry_run, trigger.config.name);
    if (decision.verdict != RepairPolicy::Decision::Verdict::allowed) {
        report_skip(trigger, decision);
        return;
    }
    start_repair(trigger);
}

void Monitor::start_repair(SiteState& trigger) {
    const bool dry_run = config_.remediation.dry_run;
    std::vector<SiteConfig> to_verify;
    nlohmann::json names = nlohmann::json::array();
    for (auto& [name, site] : sites_) {
        // A paused site is left out: its symptom is held, and its maintenance must not fail the repair.
        if (site.health.symptom_confirmed() && (&site == &trigger || !policy_->pause_holding(name))) {
            to_verify.push_back(site.config);
            names.push_back(name);
        }
    }
    const auto& remediation = config_.remediation;
    const IncidentFacts facts = incident_facts(trigger);
    const auto plan = plan_ladder(remediation, facts, to_verify);
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : remediation.steps) steps.push_back(describe_step(step));
    const bool ladder = !remediation.stages.empty();
    const std::string what = ladder ? std::to_string(remediation.stages.size()) + " stage(s)"
                                    : std::to_string(steps.size()) + " step(s)";

    repair_incident_ = trigger.incident;
    repair_site_ = trigger.config.name;
    if (const auto cause = host_trust_.cause_of(trigger.config.name)) trigger.incident_cause = cause;
    if (dry_run) {
        trigger.dry_run_reported = true;
        report_skip(trigger, {RepairPolicy::Decision::Verdict::allowed, std::nullopt,
                              ladder ? "dry run is on. The repair ladder is logged as it would run, and nothing is "
                                       "changed: " + join(ladder_plan_lines(plan), " ")
                                     : "dry run is on. The " + what +
                                           " are logged as \"would run\" and nothing is changed."});
    } else {
        ++repairs_started_;
        nlohmann::json details = {{"sites", names},
                                  {"steps", steps},
                                  {"dry_run", false},
                                  {"attempts_in_window", policy_->attempts_in_window()},
                                  {"evidence", trigger.evidence ? probe_evidence(*trigger.evidence) : nlohmann::json(nullptr)}};
        if (ladder) details["stages"] = ladder_plan_json(plan);
        emit(EventId::repair_started, {.site = trigger.config.name, .incident = trigger.incident},
             "certheal started repair " + trigger.incident + " for site(s) " + join_names(to_verify) + " with " + what +
                 (ladder ? ", least disruptive first, stopping at the first that heals them" : std::string()) +
                 "; attempt " + std::to_string(policy_->attempts_in_window()) + " of " +
                 std::to_string(remediation.max_attempts) + " in the current window.",
             with_host_trust(std::move(details), trigger.config.name));
    }
    const std::string incident = trigger.incident;
    status_changed();
    workflow_->start(remediation, incident, facts, std::move(to_verify), dry_run,
                     [this, incident](const RepairLadder::Outcome& outcome) { on_repair_finished(incident, outcome); });
}

IncidentFacts Monitor::incident_facts(const SiteState& site) const {
    IncidentFacts facts;
    if (site.last_result) facts.cls = site.last_result->cls;
    facts.cause = site.incident_cause;  // the host trust diagnosis (Windows); none elsewhere
    return facts;
}

// A ladder none of whose stages matches the incident would run nothing: said once per incident,
// and no repair is asked of the policy (it would spend the budget on nothing).
bool Monitor::no_stage_matches(SiteState& trigger) {
    const auto& stages = config_.remediation.stages;
    if (stages.empty()) return false;
    const IncidentFacts facts = incident_facts(trigger);
    std::vector<std::string> reasons;
    for (std::size_t i = 0; i < stages.size(); ++i) {
        const auto mismatch = stage_mismatch(stages[i].when, facts);
        if (!mismatch) return false;
        reasons.push_back("stage " + std::to_string(i + 1) + " (" + stages[i].name + "): " + *mismatch);
    }
    if (trigger.last_skip_reason == "no_stage") return true;
    trigger.last_skip_reason = "no_stage";
    emit(EventId::repair_skipped, {.site = trigger.config.name, .incident = trigger.incident},
         "certheal did not repair site " + trigger.config.name + ": no stage of the repair ladder applies to incident " +
             trigger.incident + " (" + join(reasons, "; ") +
             "). No repair certheal knows cures this; check the site and its certificates by hand.",
         {{"reason", "no_stage"}, {"evidence", probe_evidence(*trigger.last_result)}});
    return true;
}

void Monitor::on_repair_finished(const std::string& incident, const RepairLadder::Outcome& outcome) {
    const bool dry_run = config_.remediation.dry_run;
    const auto duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(outcome.duration).count();
    repair_incident_.clear();
    if (!dry_run) {
        const bool succeeded = outcome.succeeded && !outcome.cancelled;
        if (succeeded && outcome.ladder()) {
            ++repairs_succeeded_;
            emit(EventId::repair_succeeded, {.incident = incident},
                 "Repair " + incident + " succeeded in " + std::to_string(duration_ms) +
                     " ms: the affected sites were verified healthy after stage " +
                     std::to_string(outcome.stage_number.value_or(0)) + " of " + std::to_string(outcome.stage_count) +
                     " (" + outcome.stage.value_or("") + "); " + std::to_string(outcome.stages_run) +
                     " stage(s) ran" +
                     (outcome.stage_number.value_or(0) < outcome.stage_count
                          ? " and the more disruptive ones after it did not."
                          : "."),
                 {{"duration_ms", duration_ms},
                  {"verified", true},
                  {"stage", outcome.stage.value_or("")},
                  {"stage_number", outcome.stage_number.value_or(0)},
                  {"stages_run", outcome.stages_run},
                  {"stages", outcome.stage_count},
                  {"attempts_in_window", policy_->attempts_in_window()}});
        } else if (succeeded) {
            ++repairs_succeeded_;
            emit(EventId::repair_succeeded, {.incident = incident},
                 "Repair " + incident + " succeeded in " + std::to_string(duration_ms) + " ms: every step ran" +
                     (outcome.verified ? " and the affected sites were verified healthy."
                                       : ". No verify step is configured, so certheal did not check the sites "
                                         "within the repair; it probes them again now, and site_recovered will say "
                                         "when they are healthy."),
                 with_host_trust({{"duration_ms", duration_ms},
                                  {"verified", outcome.verified},
                                  {"attempts_in_window", policy_->attempts_in_window()}},
                                 repair_site_));
        } else {
            ++repairs_failed_;
            emit(EventId::repair_failed, {.incident = incident},
                 outcome.cancelled
                     ? "Repair " + incident + " was abandoned because certheal is stopping; check the services and "
                                              "sites by hand."
                     : "Repair " + incident + " failed: " + as_clause(outcome.error) +
                           (outcome.ladder() ? ". Check the stages' events and the site by hand"
                                             : ". Check that step's event and the site by hand") +
                           "; certheal retries after the cooldown while the budget allows.",
                 with_host_trust([&] {
                     nlohmann::json details = {
                         {"duration_ms", duration_ms},
                         {"failed_step", outcome.failed_step ? nlohmann::json(*outcome.failed_step) : nlohmann::json(nullptr)},
                         {"error", outcome.error},
                         {"cancelled", outcome.cancelled},
                         {"attempts_in_window", policy_->attempts_in_window()}};
                     if (outcome.ladder()) {
                         details["stages_run"] = outcome.stages_run;
                         details["stages"] = outcome.stage_count;
                     }
                     return details;
                 }(), repair_site_));
        }
    }
    policy_->finished(incident, outcome.succeeded && !outcome.cancelled);
    status_changed();

    if (stopping_) {
        auto done = std::move(on_stopped_);
        on_stopped_ = nullptr;
        emit(EventId::service_stopped, {}, "certheal stopped (" + stop_reason_ + ").",
             {{"reason", stop_reason_}});
        if (done) done();
        return;
    }
    // Probe the affected sites again now, so recovery (or the lack of it) shows at once.
    for (auto& [name, site] : sites_) {
        if (site.health.symptom_confirmed() && !site.probe_in_flight) schedule_probe(site, Duration::zero());
    }
}

void Monitor::stop(std::string reason, std::function<void()> done) {
    if (stopping_) return;
    stopping_ = true;
    running_ = false;
    stop_reason_ = std::move(reason);
    host_trust_.stop();
    for (auto& [name, site] : sites_) site.timer.reset();
    certificate_timer_.reset();
    if (workflow_ && workflow_->running()) {
        on_stopped_ = std::move(done);
        workflow_->cancel();
        return;
    }
    emit(EventId::service_stopped, {}, "certheal stopped (" + stop_reason_ + ").", {{"reason", stop_reason_}});
    if (done) done();
}

void Monitor::check_certificates() {
    for (const auto& site : config_.sites) {
        if (!site.tls.client_cert) continue;
        if (std::holds_alternative<StoreClientCert>(*site.tls.client_cert)) {
            // The store's choice, as the last probe saw it (the first one says it itself).
            const auto state = sites_.find(site.name);
            if (state != sites_.end() && state->second.client_cert_not_after) {
                warn_if_client_certificate_expiring(site, *state->second.client_cert_not_after);
            }
            continue;
        }
        auto identity = load_client_identity(*site.tls.client_cert);
        if (!identity.ok()) continue;  // the probe reports it on every round
        warn_if_client_certificate_expiring(site, not_after(*identity.value().certificate));
    }
    // The host trust is diagnosed again on the same daily round: a farm node whose trust drifted
    // says so (host_trust_changed) even while its sites stay healthy.
    certificate_timer_ = ports_.clock.after(std::chrono::duration_cast<Duration>(kCertificateCheckInterval), [this] {
        check_certificates();
        refresh_host_trust(Duration::zero());
    });
}

void Monitor::warn_if_client_certificate_expiring(const SiteConfig& site, TimePoint expires) {
    const auto now = ports_.clock.now();
    if (expires - now > kCertificateWarningHorizon) return;
    const auto days_left = std::chrono::duration_cast<std::chrono::hours>(expires - now).count() / 24;
    const bool in_store = std::holds_alternative<StoreClientCert>(*site.tls.client_cert);
    emit(EventId::certificate_expiring, {.site = site.name},
         "The client certificate that certheal presents to site " + site.name +
             (expires <= now ? " has expired on " : " expires on ") + format_time_utc(expires) + " (" +
             std::to_string(days_left) + " day(s) left). " +
             (in_store ? "Renew it in the certificate store (certheal takes the renewed one by itself)."
                       : "Renew it and update the configuration."),
         {{"certificate", "client"}, {"not_after", format_time_utc(expires)}, {"days_left", days_left}});
}

// A store client certificate is chosen again at every probe, and the probe says which one it
// presented. Another one than before (a renewal, or the old one back because the new one went)
// is said once per selector, however many sites share it, with both thumbprints; from then on
// its notAfter is what status and certificate_expiring watch.
void Monitor::check_store_client_certificate(SiteState& site, const ProbeResult& result) {
    const auto& client_cert = site.config.tls.client_cert;
    const auto* in_store = client_cert ? std::get_if<StoreClientCert>(&*client_cert) : nullptr;
    if (in_store == nullptr || !result.client_cert) return;
    const PresentedCertificate& now_presented = *result.client_cert;
    site.client_cert_not_after = now_presented.not_after;
    const std::string selector = store_selector_key(*in_store);
    const auto known = presented_store_certificates_.find(selector);
    if (known == presented_store_certificates_.end()) {
        presented_store_certificates_.emplace(selector, now_presented);
        warn_if_client_certificate_expiring(site.config, now_presented.not_after);
        return;
    }
    if (known->second.sha1 == now_presented.sha1) return;
    const PresentedCertificate before = std::exchange(known->second, now_presented);
    std::vector<std::string> sharing;
    for (const auto& other : config_.sites) {
        const auto* other_store =
            other.tls.client_cert ? std::get_if<StoreClientCert>(&*other.tls.client_cert) : nullptr;
        if (other_store != nullptr && store_selector_key(*other_store) == selector) sharing.push_back(other.name);
    }
    const bool newer = now_presented.not_before > before.not_before;
    emit(EventId::client_cert_changed, {.site = site.config.name},
         "certheal now presents the client certificate " + now_presented.subject + " (SHA-1 " + now_presented.sha1 +
             ", valid from " + format_time_utc(now_presented.not_before) + " to " +
             format_time_utc(now_presented.not_after) + ") to " + (sharing.size() == 1 ? "site " : "sites ") +
             list_text(sharing) + " instead of " + before.subject + " (SHA-1 " + before.sha1 + ", valid to " +
             format_time_utc(before.not_after) + "): it is the valid certificate with the latest NotBefore among " +
             describe_store_selector(*in_store) +
             (newer ? ". Nothing needs doing; the old certificate can be removed from the store once nothing else "
                      "uses it."
                    : ". The newer certificate it used before is gone or no longer valid: check the store."),
         {{"store", "LocalMachine\\" + in_store->store},
          {"selector", describe_store_selector(*in_store)},
          {"sha1", now_presented.sha1},
          {"subject", now_presented.subject},
          {"not_before", format_time_utc(now_presented.not_before)},
          {"not_after", format_time_utc(now_presented.not_after)},
          {"previous_sha1", before.sha1},
          {"previous_subject", before.subject},
          {"previous_not_after", format_time_utc(before.not_after)},
          {"sites", sharing}});
    warn_if_client_certificate_expiring(site.config, now_presented.not_after);
}

void Monitor::check_root_store() {
    if (!ports_.stores.available()) return;
    // Reading the store blocks (crypt32 reads the registry): do it on a worker.
    auto found = std::make_shared<std::optional<Result<std::vector<MisplacedRootCertificate>>>>();
    ports_.workers.submit([&stores = ports_.stores, found] { found->emplace(misplaced_root_certificates(stores)); },
                          [this, found] {
                              if (stopping_ || !*found || !found->value()) return;
                              std::set<std::string> still_there;
                              for (const auto& certificate : found->value().value()) {
                                  const auto& summary = certificate.summary;
                                  still_there.insert(summary.sha1);
                                  if (!reported_root_certificates_.insert(summary.sha1).second) continue;
                                  emit(EventId::root_store_misplaced, {}, misplaced_root_sentence(summary),
                                       {{"subject", summary.subject},
                                        {"issuer", summary.issuer},
                                        {"sha1", summary.sha1},
                                        {"sha256", summary.sha256},
                                        {"not_after", summary.not_after}});
                              }
                              // A certificate that was moved out and comes back is reported again.
                              std::erase_if(reported_root_certificates_, [&](const std::string& sha1) {
                                  return still_there.count(sha1) == 0;
                              });
                          });
}

std::string Monitor::next_incident_id() { return make_incident_id(ports_.clock.now(), ++incident_sequence_); }

bool Monitor::resume(const std::string& who) {
    if (!policy_) return false;
    if (!policy_->reset_circuit(who)) {
        emit(EventId::repair_skipped, {.incident = repair_incident_},
             "certheal did not reset its repair circuit breaker for " + who + " because repair " + repair_incident_ +
                 " is running; run certheal resume again when it has finished.",
             {{"reason", "busy"}});
        return false;
    }
    status_changed();
    return true;
}

void Monitor::refresh_pauses() {
    if (!policy_) return;
    policy_->refresh();
    status_changed();
}

void Monitor::status_changed(StatusChange change) {
    if (status_listener_) status_listener_(change);
}

void Monitor::record_client_certificate_expiry() {
    for (auto& [name, site] : sites_) {
        const auto& client_cert = site.config.tls.client_cert;
        // A store certificate's notAfter comes from the probes: the store chooses at each one.
        if (client_cert && std::holds_alternative<StoreClientCert>(*client_cert)) continue;
        site.client_cert_not_after.reset();
        if (!client_cert) continue;
        auto identity = load_client_identity(*site.config.tls.client_cert);
        if (identity.ok()) site.client_cert_not_after = not_after(*identity.value().certificate);
    }
}

// The server's certificate lapsing breaks the site as surely as a lost trust, and certheal
// sees it on every probe: said once per certificate (a renewed one has a new notAfter).
void Monitor::check_server_certificate(SiteState& site, const ProbeResult& result) {
    if (!result.server_cert_not_after) return;
    const auto expires = *result.server_cert_not_after;
    const auto now = ports_.clock.now();
    if (expires - now > kCertificateWarningHorizon) return;
    if (site.server_expiry_reported == expires) return;
    site.server_expiry_reported = expires;
    const auto days_left = std::chrono::duration_cast<std::chrono::hours>(expires - now).count() / 24;
    emit(EventId::certificate_expiring, {.site = site.config.name},
         "The server certificate of site " + site.config.name + " (" + site.config.url + ")" +
             (expires <= now ? " has expired on " : " expires on ") + format_time_utc(expires) + " (" +
             std::to_string(days_left) + " day(s) left). Renew it in the site's HTTPS binding.",
         {{"certificate", "server"}, {"not_after", format_time_utc(expires)}, {"days_left", days_left}});
}

MonitorStatus Monitor::status() const {
    MonitorStatus status;
    const auto now = ports_.clock.now();
    status.generated_at = now;
    for (const auto& [name, site] : sites_) {
        SiteStatus shown;
        shown.name = name;
        shown.symptom_confirmed = site.health.symptom_confirmed();
        shown.incident = site.incident;
        shown.last_result = site.last_result;
        shown.probes = site.probes;
        shown.failed_probes = site.failed_probes;
        shown.class_since = site.class_since;
        shown.last_probe_at = site.last_probe_at;
        shown.next_probe_at = site.timer ? site.next_probe_at : std::nullopt;
        shown.client_cert_not_after = site.client_cert_not_after;
        shown.cause = host_trust_.cause_of(name);
        shown.class_counts = site.class_counts;
        if (policy_) {
            if (auto held = policy_->pause_holding(name); held && !held->site.empty()) shown.pause = std::move(held);
        }
        status.sites.push_back(std::move(shown));
    }
    status.remediation_enabled = config_.remediation.enabled;
    status.dry_run = config_.remediation.dry_run;
    status.repair_running = workflow_ && workflow_->running();
    status.repair_incident = status.repair_running ? repair_incident_ : std::string();
    if (policy_) {
        status.circuit_open = policy_->circuit_open();
        status.circuit_opened_at = policy_->circuit_opened_at();
        status.circuit_closes_at = policy_->circuit_closes_at();
        status.attempts_in_window = policy_->attempts_in_window();
        status.max_attempts = policy_->max_attempts();
        if (const auto cooldown = policy_->cooldown_ends_at(); cooldown && *cooldown > now) status.cooldown_until = cooldown;
        status.last_repair = policy_->last_repair();
        status.host_pause = policy_->pause_holding({});
    }
    status.repairs_started = repairs_started_;
    status.repairs_succeeded = repairs_succeeded_;
    status.repairs_failed = repairs_failed_;
    if (const auto* diagnosis = host_trust_.latest()) {
        HostTrustStatus host;
        host.fingerprint = diagnosis->fingerprint.value;
        host.diagnosed_at = diagnosis->facts.gathered_at;
        for (const auto cause : kAllTrustCauses) {
            if (cause == TrustCause::none_found) continue;
            const bool found = std::any_of(diagnosis->sites.begin(), diagnosis->sites.end(),
                                           [cause](const SiteDiagnosis& site) { return site.cause() == cause; });
            if (found) host.causes.emplace_back(to_string(cause));
        }
        status.host_trust = std::move(host);
    }
    return status;
}

void Monitor::refresh_host_trust(Duration fresh_for, std::function<void()> then) {
    host_trust_.refresh(config_.sites, fresh_for, [this, then = std::move(then)] {
        if (host_trust_.enabled()) status_changed();
        if (then) then();
    });
}

nlohmann::json Monitor::with_host_trust(nlohmann::json details, const std::string& site) const {
    const auto evidence = host_trust_.evidence_of(site);
    for (const auto& [key, value] : evidence.items()) details[key] = value;
    return details;
}

void Monitor::report_host_trust_change(const HostTrustFingerprint& before, const HostDiagnosis& now) {
    const auto parts = changed_parts(before, now.fingerprint);
    nlohmann::json causes = nlohmann::json::object();
    std::vector<std::string> found;
    for (const auto& site : now.sites) {
        causes[site.site] = std::string(to_string(site.cause()));
        if (site.cause() != TrustCause::none_found) found.push_back(site.site + ": " + std::string(to_string(site.cause())));
    }
    emit(EventId::host_trust_changed, {},
         "The client-certificate trust settings of this host changed (" +
             (parts.empty() ? std::string("fingerprint") : list_text(parts)) + "): the host trust fingerprint is now " +
             now.fingerprint.value + ", it was " + before.value + ". " +
             (found.empty() ? std::string("certheal finds no cause of a rejection in them.")
                            : "certheal now finds: " + join(found, "; ") + " (certheal diagnose says more).") +
             " If nobody meant to change them, compare this host with the other nodes of its farm.",
         {{"fingerprint", now.fingerprint.value},
          {"previous_fingerprint", before.value},
          {"changed", parts},
          {"trust_mode", now.facts.schannel.trust_mode},
          {"send_trusted_issuer_list", now.facts.schannel.send_issuer_list},
          {"causes", causes}});
}

}  // namespace certheal
