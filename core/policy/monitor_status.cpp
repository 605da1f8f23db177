#include "core/policy/monitor.hpp"

#include <algorithm>
#include <utility>

#include "core/describe/policy_sentences.hpp"
#include "core/policy/monitor_parts.hpp"

// What the status shows, and the host trust as the monitor reports it.

namespace certheal {


MonitorStatus Monitor::status() const {
    MonitorStatus status;
    const auto now = ports_.clock.wall_now();
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
         host_trust_changed_message(found),
         {{"fingerprint", now.fingerprint.value},
          {"previous_fingerprint", before.value},
          {"changed", parts},
          {"trust_mode", now.facts.schannel.trust_mode},
          {"send_trusted_issuer_list", now.facts.schannel.send_issuer_list},
          {"causes", causes}});
}

}  // namespace certheal
