#include "core/model/events.hpp"

#include <algorithm>
#include <array>

namespace certheal {
namespace {

constexpr std::array<EventDefinition, 29> kEvents{{
    {EventId::service_started, "service_started", Severity::information,
     "certheal started with a valid configuration and is monitoring its sites.",
     "config, sites, site_names, dry_run, remediation_enabled, version"},
    {EventId::service_stopped, "service_stopped", Severity::information,
     "certheal stopped on request; any repair step in progress was finished or abandoned safely.",
     "reason"},
    {EventId::config_invalid, "config_invalid", Severity::error,
     "The configuration file has errors; certheal did not start (or kept the last good configuration on reload). Fix each listed path.",
     "config, errors"},
    {EventId::config_reloaded, "config_reloaded", Severity::information,
     "A new configuration was validated and is now in force.",
     "config, sites, site_names, needs_restart, kept, requested, requests"},
    {EventId::status_endpoint_failed, "status_endpoint_failed", Severity::warning,
     "certheal could not serve its status endpoint (service.status_listen); it keeps monitoring and repairing without it.",
     "listen, error"},
    {EventId::storage_failed, "storage_failed", Severity::error,
     "certheal could not write its journal or its repair history in the state folder (disk full, permissions); it keeps both in memory and retries. Free space or fix the folder's permissions.",
     "what, path, error, queued"},
    {EventId::storage_recovered, "storage_recovered", Severity::information,
     "The state folder is writable again; certheal wrote what it had kept in memory.",
     "what, path, written, dropped"},
    {EventId::paused, "paused", Severity::information,
     "An operator paused repairs of the host or of one site (certheal pause); probes go on and a confirmed symptom "
     "is recorded, not repaired, until the pause ends.",
     "scope (host, site), by, until, for, reason"},
    {EventId::unpaused, "unpaused", Severity::information,
     "A pause of repairs ended: an operator ran certheal unpause, or its time ran out (by: \"by itself\"); a "
     "confirmed symptom is repaired again.",
     "scope (host, site), by, paused_by, since, until, reason"},
    {EventId::probe_failed, "probe_failed", Severity::warning,
     "A probe of a site did not come back healthy; not yet a confirmed symptom. For a class that is not a symptom it "
     "is written when the class changes, not on every probe (the metrics count every probe).",
     "class, status, tls_alert, error, timings_ms, consecutive, failure_threshold"},
    {EventId::symptom_confirmed, "symptom_confirmed", Severity::error,
     "A site failed failure_threshold consecutive probes with a symptom class; a repair will be considered.",
     "class, status, iis_substatus, tls_alert, error, timings_ms, failed_probes, cause, diagnosis, host_trust"},
    {EventId::site_recovered, "site_recovered", Severity::information,
     "A site that had a confirmed symptom passed success_threshold consecutive probes.",
     "class, status, timings_ms, good_probes"},
    {EventId::certificate_expiring, "certificate_expiring", Severity::warning,
     "The client certificate certheal presents to a site, or the server certificate the site presents, expires "
     "within 30 days; renew it.",
     "certificate (client/server), not_after, days_left"},
    {EventId::root_store_misplaced, "root_store_misplaced", Severity::warning,
     "A certificate that is not self-signed sits in LocalMachine\\Root; Schannel then rejects client certificates (403.16/403.7, KB 2802568). Move it to the CA store.",
     "subject, issuer, sha1, sha256, not_after"},
    {EventId::host_trust_changed, "host_trust_changed", Severity::warning,
     "The client-certificate trust settings of this Windows host changed (Schannel trust mode or issuer list, the "
     "sites' http.sys bindings, or the certificates of Root, CA, ClientAuthIssuer or a binding's store). Check that "
     "the change was meant; certheal diagnose says whether it breaks a site.",
     "fingerprint, previous_fingerprint, changed, trust_mode, send_trusted_issuer_list, causes"},
    {EventId::client_cert_changed, "client_cert_changed", Severity::information,
     "A store client certificate (client_cert with store) now selects another certificate, usually a renewal; certheal presents it from the next probe on. Said once per selector.",
     "store, selector, sha1, subject, not_before, not_after, previous_sha1, previous_subject, previous_not_after, sites"},
    {EventId::probe_recovered, "probe_recovered", Severity::information,
     "A site that failed with a class that is not a symptom (probe_failed) is healthy again.",
     "class, status, timings_ms, failed_class, failed_since, failed_probes"},
    {EventId::repair_started, "repair_started", Severity::warning,
     "certheal started the configured repair workflow for an incident.",
     "sites, steps, dry_run, attempts_in_window, max_attempts, evidence"},
    {EventId::step_succeeded, "step_succeeded", Severity::information,
     "One repair step finished successfully (or, in dry run, would have run).",
     "step, kind, description, duration_ms, outcome, would, exit_code, output_tail, services"},
    {EventId::step_failed, "step_failed", Severity::error,
     "A repair step failed; the workflow stopped and the repair counts as failed.",
     "step, kind, description, duration_ms, error, error_code, exit_code, output_tail"},
    {EventId::repair_succeeded, "repair_succeeded", Severity::information,
     "Every repair step succeeded; with a verify step, the symptomatic sites were verified healthy (details.verified).",
     "duration_ms, verified, attempts_in_window"},
    {EventId::repair_failed, "repair_failed", Severity::error,
     "The repair did not make the sites healthy; check the failed step's error and output and the site by hand. "
     "certheal tries again after the cooldown, unless it was the last attempt the budget allows (circuit_opened "
     "follows).",
     "duration_ms, failed_step, error, attempts_in_window, max_attempts, retry"},
    {EventId::repair_skipped, "repair_skipped", Severity::warning,
     "A confirmed symptom was not repaired because of policy: cooldown, budget, open circuit, remediation disabled, or dry run.",
     "reason, retry_after, evidence, error, running_incident, opened_at, closes_at, attempts, cooldown, clamped, ahead_by"},
    {EventId::circuit_opened, "circuit_opened", Severity::error,
     "The last repair the budget allows failed; certheal stops repairing and only reports. Check the web server (IIS "
     "on Windows) and its client-certificate trust, then run `certheal resume`; otherwise repairs resume by "
     "themselves at reset_at.",
     "attempts, max_attempts, window, reset_after, reset_at"},
    {EventId::circuit_closed, "circuit_closed", Severity::information,
     "The quiet period passed (or an operator reset it); repairs are allowed again.",
     "reason, opened_at, reset_after, window, requested_by, was_open"},
    {EventId::stage_started, "stage_started", Severity::information,
     "A stage of the repair ladder started: its steps run, then certheal probes the incident's sites (in a dry run, "
     "what the stage would run).",
     "stage, stage_number, stages, steps, when, class, cause, dry_run"},
    {EventId::stage_skipped, "stage_skipped", Severity::information,
     "A stage of the repair ladder did not run because its `when` does not match the incident's class or cause.",
     "stage, stage_number, stages, when, class, cause, reason, dry_run"},
    {EventId::stage_succeeded, "stage_succeeded", Severity::information,
     "The sites were healthy after this stage of the repair ladder; the more disruptive stages after it did not run.",
     "stage, stage_number, stages, stages_run, duration_ms, rounds"},
    {EventId::stage_failed, "stage_failed", Severity::warning,
     "A stage of the repair ladder did not make the sites healthy (or one of its steps failed); certheal goes on with "
     "the next stage, if there is one.",
     "stage, stage_number, stages, duration_ms, error, failed_step, not_healed, next_stage"},
}};

}  // namespace

std::span<const EventDefinition> event_table() noexcept { return kEvents; }

const EventDefinition& definition_of(EventId id) noexcept {
    const auto found = std::find_if(kEvents.begin(), kEvents.end(),
                                    [id](const EventDefinition& def) { return def.id == id; });
    // Every enumerator is in the table (a unit test checks it), so this never falls through.
    return found != kEvents.end() ? *found : kEvents.front();
}

std::optional<EventId> event_id_from_name(std::string_view name) noexcept {
    for (const auto& def : kEvents) {
        if (def.name == name) return def.id;
    }
    return std::nullopt;
}

std::string_view to_string(Severity severity) noexcept {
    switch (severity) {
        case Severity::information: return "information";
        case Severity::warning: return "warning";
        case Severity::error: return "error";
    }
    return "information";
}

}  // namespace certheal
