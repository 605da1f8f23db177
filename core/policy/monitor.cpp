#include "core/policy/monitor.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "core/probe/certificate_info.hpp"
#include "core/probe/client_cert_selection.hpp"
#include "core/repair/certificate_trust.hpp"
#include "core/repair/repair_details.hpp"
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

nlohmann::json site_names(const std::vector<SiteConfig>& sites) {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& site : sites) names.push_back(site.name);
    return names;
}

// "1 site" or "3 sites".
std::string sites_count(std::size_t count) { return std::to_string(count) + (count == 1 ? " site" : " sites"); }

}  // namespace

Monitor::Monitor(MonitorPorts ports)
    : ports_(ports), host_trust_(ports.host_trust, ports.stores, ports.workers, ports.clock, ports.client_identities) {
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
         "certheal started and monitors " + sites_count(config_.sites.size()) + "." +
             (config_.remediation.dry_run ? " Dry run is on: repairs are only logged, nothing is changed." : "") +
             (config_.remediation.enabled ? "" : " Remediation is disabled: certheal only reports."),
         {{"config", config_.source.string()},
          {"sites", config_.sites.size()},
          {"site_names", site_names(config_.sites)},
          {"dry_run", config_.remediation.dry_run},
          {"remediation_enabled", config_.remediation.enabled},
          {"version", CERTHEAL_VERSION}});
    // After service_started, so that what reading the history says (a circuit that closed while
    // certheal was stopped, times from the future) follows it in the journal.
    const auto state_warning = policy_->load();
    policy_->close_circuit_on_time();
    policy_->on_change([this] { status_changed(); });
    if (state_warning) {
        emit(EventId::repair_skipped, {},
             "certheal could not read its saved repair history and started afresh: the repair budget and the circuit "
             "breaker start from zero. Check state.json in the state folder.",
             {{"reason", "state_reset"}, {"error", *state_warning}});
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
    nlohmann::json kept = nlohmann::json::object();
    nlohmann::json requested = nlohmann::json::object();
    if (config.service.state_dir != config_.service.state_dir) {
        needs_restart.push_back("service.state_dir");
        kept["service.state_dir"] = config_.service.state_dir.string();
        requested["service.state_dir"] = config.service.state_dir.string();
        config.service.state_dir = config_.service.state_dir;
    }
    const auto listen_text = [](const std::optional<ListenAddress>& listen) {
        return listen ? listen->text() : std::string("none");
    };
    if (listen_text(config.service.status_listen) != listen_text(config_.service.status_listen)) {
        needs_restart.push_back("service.status_listen");
        kept["service.status_listen"] = listen_text(config_.service.status_listen);
        requested["service.status_listen"] = listen_text(config.service.status_listen);
        config.service.status_listen = config_.service.status_listen;
    }
    config_ = std::move(config);
    // The attempt history and the circuit stay: a reload never grants a fresh budget.
    policy_->update_config(config_.remediation);
    install_sites(config_.sites);
    nlohmann::json details = {{"config", config_.source.string()},
                              {"sites", config_.sites.size()},
                              {"site_names", site_names(config_.sites)}};
    if (!needs_restart.empty()) {
        details["needs_restart"] = needs_restart;
        details["kept"] = kept;
        details["requested"] = requested;
    }
    if (requests > 1) details["requests"] = requests;
    emit(EventId::config_reloaded, {},
         "certheal reloaded its configuration and now monitors " + sites_count(config_.sites.size()) + "." +
             (needs_restart.empty() ? std::string()
                                    : " A changed service.state_dir or status_listen takes effect only after a "
                                      "restart (needs_restart)."),
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
             "The site is healthy again; the incident is closed.", [&] {
                 auto details = probe_evidence(result);
                 details["good_probes"] = site.config.success_threshold;
                 return details;
             }());
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
                 "The site is healthy again after probes that failed with a class that is not a repair symptom.",
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
         symptom ? "A probe failed with a repair symptom; " + std::to_string(site.health.consecutive_symptomatic()) +
                       " of " + std::to_string(site.config.failure_threshold) +
                       " failed probes in a row confirm it. See the evidence for what the site answered."
                 : std::string("A probe failed with a class that is not a repair symptom; certheal only reports it, "
                               "again when the class changes. Check the site."),
         [&] {
             auto details = probe_evidence(result);
             details["consecutive"] = site.health.consecutive_symptomatic();
             details["failure_threshold"] = site.config.failure_threshold;
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
    for (const auto& [key, value] : decision.details.items()) details[key] = value;
    emit(EventId::repair_skipped, {.site = site.config.name, .incident = site.incident}, decision.reason_sentence,
         std::move(details));
}

void Monitor::confirm_symptom(const std::string& site_name, const std::string& incident) {
    auto found = sites_.find(site_name);
    if (!running_ || found == sites_.end() || found->second.incident != incident || !found->second.evidence) return;
    auto& site = found->second;
    site.incident_cause = host_trust_.cause_of(site_name);
    const ProbeResult& result = *site.evidence;
    auto details = with_host_trust(probe_evidence(result), site_name);
    details["failed_probes"] = site.config.failure_threshold;
    bool diagnosed = false;
    if (const auto* latest = host_trust_.latest(); latest != nullptr && site.incident_cause &&
                                                   *site.incident_cause != TrustCause::none_found) {
        if (const auto* found_site = latest->site(site_name); found_site && !found_site->findings.empty()) {
            details["diagnosis"] = found_site->findings.front().sentence;
            diagnosed = true;
        }
    }
    emit(EventId::symptom_confirmed, {.site = site.config.name, .incident = site.incident},
         std::string("certheal confirmed the client-certificate symptom and will repair it if its policy allows.") +
             (diagnosed ? " The host trust diagnosis names a cause (see cause and diagnosis)." : ""),
         std::move(details));
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
    const nlohmann::json steps = repair_steps_json(remediation);
    const bool ladder = !remediation.stages.empty();
    const std::string what = ladder ? std::to_string(remediation.stages.size()) +
                                          (remediation.stages.size() == 1 ? " stage" : " stages")
                                    : std::to_string(steps.size()) + (steps.size() == 1 ? " step" : " steps");

    repair_incident_ = trigger.incident;
    repair_site_ = trigger.config.name;
    if (const auto cause = host_trust_.cause_of(trigger.config.name)) trigger.incident_cause = cause;
    if (dry_run) {
        trigger.dry_run_reported = true;
        RepairPolicy::Decision dry{RepairPolicy::Decision::Verdict::allowed, std::nullopt,
                                   "Dry run is on: certheal logs the repair's " + what +
                                       " as they would run and changes nothing. Turn remediation.dry_run off to "
                                       "repair."};
        dry.details["steps"] = steps;
        if (ladder) {
            dry.details["stages"] = ladder_plan_json(plan);
            dry.details["plan"] = ladder_plan_lines(plan);
        }
        report_skip(trigger, dry);
    } else {
        ++repairs_started_;
        nlohmann::json details =
            repair_started_details(names, remediation, plan, /*dry_run=*/false, policy_->attempts_in_window());
        details["evidence"] = trigger.evidence ? probe_evidence(*trigger.evidence) : nlohmann::json(nullptr);
        details["max_attempts"] = remediation.max_attempts;
        emit(EventId::repair_started, {.site = trigger.config.name, .incident = trigger.incident},
             "certheal started a repair of " + sites_count(to_verify.size()) + " with " + what +
                 (ladder ? ", least disruptive first" : std::string()) + " (attempt " +
                 std::to_string(policy_->attempts_in_window()) + " of " + std::to_string(remediation.max_attempts) +
                 " in the window).",
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
    nlohmann::json reasons = nlohmann::json::array();
    for (std::size_t i = 0; i < stages.size(); ++i) {
        const auto mismatch = stage_mismatch(stages[i].when, facts);
        if (!mismatch) return false;
        reasons.push_back({{"stage", stages[i].name}, {"stage_number", i + 1}, {"reason", *mismatch}});
    }
    if (trigger.last_skip_reason == "no_stage") return true;
    trigger.last_skip_reason = "no_stage";
    emit(EventId::repair_skipped, {.site = trigger.config.name, .incident = trigger.incident},
         "No stage of the repair ladder applies to this incident, so no repair certheal knows cures it. Check the "
         "site and its certificates by hand.",
         {{"reason", "no_stage"}, {"stages", reasons}, {"evidence", probe_evidence(*trigger.last_result)}});
    return true;
}

void Monitor::on_repair_finished(const std::string& incident, const RepairLadder::Outcome& outcome) {
    const bool dry_run = config_.remediation.dry_run;
    const auto duration_ms = repair_duration_ms(&outcome);
    repair_incident_.clear();
    if (!dry_run) {
        const bool succeeded = outcome.succeeded && !outcome.cancelled;
        if (succeeded && outcome.ladder()) {
            ++repairs_succeeded_;
            emit(EventId::repair_succeeded, {.site = repair_site_, .incident = incident},
                 "The repair succeeded: the sites were verified healthy after stage " +
                     std::to_string(outcome.stage_number.value_or(0)) + " of " + std::to_string(outcome.stage_count) +
                     (outcome.stage_number.value_or(0) < outcome.stage_count
                          ? "; the more disruptive stages after it did not run."
                          : "."),
                 ladder_succeeded_details(outcome, policy_->attempts_in_window()));
        } else if (succeeded) {
            ++repairs_succeeded_;
            emit(EventId::repair_succeeded, {.site = repair_site_, .incident = incident},
                 outcome.verified ? std::string("The repair succeeded: every step ran and the sites were verified healthy.")
                                  : std::string("Every repair step ran. No verify step is configured, so certheal probes "
                                                "the sites as usual; site_recovered says when they are healthy."),
                 with_host_trust({{"duration_ms", duration_ms},
                                  {"verified", outcome.verified},
                                  {"attempts_in_window", policy_->attempts_in_window()}},
                                 repair_site_));
        } else {
            ++repairs_failed_;
            // Said before circuit_opened: when that follows, no retry is promised.
            const bool last_attempt = policy_->failure_stops_repairs();
            const std::string where =
                outcome.ladder() ? std::string("No stage healed the sites")
                : outcome.failed_step ? "Step " + std::to_string(*outcome.failed_step + 1) + " failed"
                                      : std::string("The sites are not healthy");
            emit(EventId::repair_failed, {.site = repair_site_, .incident = incident},
                 outcome.cancelled
                     ? std::string("The repair was abandoned because certheal is stopping; check the services and "
                                   "sites by hand.")
                     : "The repair failed. " + where + "; check its error and the site by hand." +
                           (last_attempt ? " It was the last attempt the budget allows: certheal stops repairing."
                                         : " certheal tries again after the cooldown."),
                 with_host_trust([&] {
                     nlohmann::json details =
                         repair_failed_details(&outcome, outcome.error, policy_->attempts_in_window());
                     details["max_attempts"] = config_.remediation.max_attempts;
                     details["retry"] = !outcome.cancelled && !last_attempt;
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
         std::string(expires <= now ? "The client certificate certheal presents has expired (not_after). "
                                    : "The client certificate certheal presents expires within 30 days (not_after). ") +
             (in_store ? "Renew it in the certificate store; certheal takes the renewed one by itself."
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
         "certheal now presents another client certificate from the store to " + sites_count(sharing.size()) +
             (newer ? ", a newer one. Nothing needs doing; remove the old one once nothing else uses it."
                    : ", an older one: the newer one it used before is gone or no longer valid. Check the store."),
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
                                  emit(EventId::root_store_misplaced, {},
                                       "A certificate that is not self-signed sits in LocalMachine\\Root, so IIS "
                                       "rejects client certificates (KB 2802568). Move it to the CA store (step "
                                       "fix_root_store).",
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
             "certheal did not reset its repair circuit breaker because a repair is running; run `certheal resume` "
             "again when it has finished.",
             {{"reason", "busy"}, {"requested_by", who}});
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
         std::string(expires <= now ? "The site's server certificate has expired (not_after)."
                                    : "The site's server certificate expires within 30 days (not_after).") +
             " Renew it in " + config_.remediation.web_server + " (the site's HTTPS binding).",
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
    std::size_t found = 0;
    for (const auto& site : now.sites) {
        causes[site.site] = std::string(to_string(site.cause()));
        if (site.cause() != TrustCause::none_found) ++found;
    }
    emit(EventId::host_trust_changed, {},
         "The client-certificate trust settings of this host changed (see changed). " +
             (found == 0 ? std::string("certheal finds no cause of a rejection in them.")
                         : "certheal finds a cause of rejection for " + sites_count(found) +
                               "; certheal diagnose says more.") +
             " Check that the change was meant.",
         {{"fingerprint", now.fingerprint.value},
          {"previous_fingerprint", before.value},
          {"changed", parts},
          {"trust_mode", now.facts.schannel.trust_mode},
          {"send_trusted_issuer_list", now.facts.schannel.send_issuer_list},
          {"causes", causes}});
}

}  // namespace certheal
