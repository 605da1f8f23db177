#include "core/policy/monitor.hpp"

#include <string>
#include <utility>

#include "core/base/time_format.hpp"
#include "core/describe/policy_sentences.hpp"
#include "core/policy/monitor_parts.hpp"
#include "core/repair/repair_details.hpp"

// Whether a confirmed symptom is repaired, the repair's start and end, and the operator's resume
// and pauses as the monitor sees them.

namespace certheal {

using monitor_detail::kFreshDiagnosis;

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

void Monitor::consider_repair(SiteState& trigger) {
    if (stopping_) return;
    // The running repair verifies every confirmed site; a diagnosis about to start one is the same.
    if (workflow_->running() || diagnosing_before_repair_) return;
    if (config_.remediation.dry_run && trigger.dry_run_reported) return;
    // Before a repair the host trust is diagnosed again (unless that just happened), so the
    // repair's events say what it was for. Only when the policy would let a repair start: a
    // diagnosis on every probe of a cooling-down incident would be waste.
    const bool may_start = config_.remediation.enabled && !policy_->busy() &&
                           !policy_->pause_holding(trigger.config.name) && policy_->next_allowed() <= ports_.clock.wall_now();
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

    repair_incident_ = trigger.incident;
    repair_site_ = trigger.config.name;
    if (const auto cause = host_trust_.cause_of(trigger.config.name)) trigger.incident_cause = cause;
    if (dry_run) {
        trigger.dry_run_reported = true;
        RepairPolicy::Decision dry{RepairPolicy::Decision::Verdict::allowed, std::nullopt,
                                   dry_run_repair_message(ladder ? remediation.stages.size() : steps.size(), ladder)};
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
             repair_started_message(to_verify.size(), ladder ? remediation.stages.size() : steps.size(), ladder,
                                    policy_->attempts_in_window(), remediation.max_attempts),
             with_host_trust(std::move(details), trigger.config.name));
    }
    const std::string incident = trigger.incident;
    status_changed();
    workflow_->start(remediation, incident, facts, std::move(to_verify), dry_run,
                     [this, incident](const RepairLadder::Outcome& outcome) { on_repair_finished(incident, outcome); });
}

IncidentFacts Monitor::incident_facts(const SiteState& site) const {
    IncidentFacts facts;
    if (site.last_result) facts.probe_class = site.last_result->probe_class;
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
         no_stage_applies_message(),
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
                 ladder_succeeded_message(outcome.stage_number.value_or(0), outcome.stage_count),
                 ladder_succeeded_details(outcome, policy_->attempts_in_window()));
        } else if (succeeded) {
            ++repairs_succeeded_;
            emit(EventId::repair_succeeded, {.site = repair_site_, .incident = incident},
                 steps_succeeded_message(outcome.verified),
                 with_host_trust({{"duration_ms", duration_ms},
                                  {"verified", outcome.verified},
                                  {"attempts_in_window", policy_->attempts_in_window()}},
                                 repair_site_));
        } else {
            ++repairs_failed_;
            // Said before circuit_opened: when that follows, no retry is promised.
            const bool last_attempt = policy_->failure_stops_repairs();
            emit(EventId::repair_failed, {.site = repair_site_, .incident = incident},
                 repair_failed_message({outcome.cancelled, outcome.ladder(), outcome.failed_step, last_attempt}),
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

}  // namespace certheal
