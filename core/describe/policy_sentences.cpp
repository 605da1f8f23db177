#include "core/describe/policy_sentences.hpp"

#include "core/base/duration.hpp"
#include "core/base/time_format.hpp"

namespace certheal {
namespace {

std::string ordinal(int number) {
    const int last_two = number % 100;
    const char* suffix = "th";
    if (last_two < 11 || last_two > 13) {
        switch (number % 10) {
            case 1: suffix = "st"; break;
            case 2: suffix = "nd"; break;
            case 3: suffix = "rd"; break;
            default: break;
        }
    }
    return std::to_string(number) + suffix;
}

// "1 stage", "3 steps"
std::string counted(std::size_t count, const char* one, const char* many) {
    return std::to_string(count) + " " + (count == 1 ? one : many);
}

std::string repair_parts(std::size_t count, bool stages) {
    return stages ? counted(count, "stage", "stages") : counted(count, "step", "steps");
}

}  // namespace

std::string dry_run_would_repair_message() {
    return "Dry run: certheal would repair now; nothing is changed and the attempt does not count against the "
           "repair budget.";
}

std::string remediation_disabled_message() {
    return "Remediation is disabled in the configuration (remediation.enabled), so certheal only reports "
           "this incident. Repair the site by hand.";
}

std::string repair_running_message() {
    return "Another repair is still running on this host; certheal runs one repair at a time and "
           "considers this incident again on its next probe.";
}

std::string repair_lock_held_message() {
    return "Another repair is running on this host (the service's or `certheal repair`); certheal runs "
           "one repair at a time and considers this incident again on its next probe.";
}

std::string repair_lock_unavailable_message() {
    return "certheal cannot take its host-wide repair lock, so it does not repair (another repair "
           "could run at the same time). Fix the lock file or the state folder (see error).";
}

std::string circuit_open_message(bool manual) {
    return manual ? "The repair circuit breaker is open: the last repair the budget allowed failed. Find out "
                    "why, then run `certheal resume`, or `certheal repair --force` to repair anyway."
                  : "The repair circuit breaker is open, so certheal does not repair until it closes by "
                    "itself (retry_after) or you run `certheal resume` after checking the host.";
}

std::string budget_spent_message() {
    return "The repair budget of the attempt window is spent, so certheal repairs again only when an "
           "attempt leaves the window (retry_after).";
}

std::string cooldown_message() {
    return "The previous repair ended within the cooldown, so certheal repairs this incident only after "
           "the cooldown (retry_after).";
}

std::string paused_message(const PauseFacts& pause, const std::string& incident, bool manual) {
    const std::string scope = pause.site.empty() ? "on this host" : "of site " + pause.site;
    const std::string until = pause.until ? "until " + format_time_utc(*pause.until) : "until certheal unpause";
    return "repairs " + scope + " are paused " + until + " (by " + pause.by +
           (pause.reason.empty() ? "" : ": " + pause.reason) + "), so the repair of incident " + incident + " is held" +
           (pause.until ? " until then" : "") + "." +
           (manual ? " Run certheal unpause first, or certheal repair --force to repair anyway." : "");
}

std::string attempt_starting_message(int attempt, int max_attempts, Duration window, const std::string& incident) {
    return "certheal is starting the " + ordinal(attempt) + " of at most " + std::to_string(max_attempts) +
           " repairs allowed within " + format_duration(window) + " for incident " + incident + ".";
}

std::string circuit_opened_message(const std::string& web_server, TimePoint reset_at) {
    return "Repairs stopped: the last repair the budget allows failed. Check " + web_server +
           " and its client-certificate trust, then run `certheal resume`; otherwise repairs resume at " +
           format_time_utc(reset_at) + ".";
}

std::string dry_run_repair_message(std::size_t count, bool stages) {
    return "Dry run is on: certheal logs the repair's " + repair_parts(count, stages) +
           " as they would run and changes nothing. Turn remediation.dry_run off to repair.";
}

std::string no_stage_applies_message() {
    return "No stage of the repair ladder applies to this incident, so no repair certheal knows cures it. Check the "
           "site and its certificates by hand.";
}

std::string repair_started_message(std::size_t sites, std::size_t count, bool stages, int attempt, int max_attempts) {
    return "certheal started a repair of " + counted(sites, "site", "sites") + " with " + repair_parts(count, stages) +
           (stages ? ", least disruptive first" : "") + " (attempt " + std::to_string(attempt) + " of " +
           std::to_string(max_attempts) + " in the window).";
}

std::string ladder_succeeded_message(std::size_t stage, std::size_t stages) {
    return "The repair succeeded: the sites were verified healthy after stage " + std::to_string(stage) + " of " +
           std::to_string(stages) + (stage < stages ? "; the more disruptive stages after it did not run." : ".");
}

std::string steps_succeeded_message(bool verified) {
    return verified ? "The repair succeeded: every step ran and the sites were verified healthy."
                    : "Every repair step ran. No verify step is configured, so certheal probes the sites as usual; "
                      "site_recovered says when they are healthy.";
}

std::string repair_failed_message(const RepairFailureFacts& facts) {
    if (facts.cancelled) {
        return "The repair was abandoned because certheal is stopping; check the services and sites by hand.";
    }
    const std::string where = facts.ladder        ? std::string("No stage healed the sites")
                              : facts.failed_step ? "Step " + std::to_string(*facts.failed_step + 1) + " failed"
                                                  : std::string("The sites are not healthy");
    return "The repair failed. " + where + "; check its error and the site by hand." +
           (facts.last_attempt ? " It was the last attempt the budget allows: certheal stops repairing."
                               : " certheal tries again after the cooldown.");
}

std::string service_started_message(std::size_t sites, bool dry_run, bool remediation_enabled) {
    return "certheal started and monitors " + counted(sites, "site", "sites") + "." +
           (dry_run ? " Dry run is on: repairs are only logged, nothing is changed." : "") +
           (remediation_enabled ? "" : " Remediation is disabled: certheal only reports.");
}

std::string config_reloaded_message(std::size_t sites, bool needs_restart) {
    return "certheal reloaded its configuration and now monitors " + counted(sites, "site", "sites") + "." +
           (needs_restart ? " A changed service.state_dir or status_listen takes effect only after a restart "
                            "(needs_restart)."
                          : "");
}

std::string state_reset_message() {
    return "certheal could not read its saved repair history and started afresh: the repair budget and the circuit "
           "breaker start from zero. Check state.json in the state folder.";
}

std::string site_recovered_message() { return "The site is healthy again; the incident is closed."; }

std::string probe_recovered_message() {
    return "The site is healthy again after probes that failed with a class that is not a repair symptom.";
}

std::string symptom_probe_failed_message(int consecutive, int threshold) {
    return "A probe failed with a repair symptom; " + std::to_string(consecutive) + " of " +
           std::to_string(threshold) + " failed probes in a row confirm it. See the evidence for what the site answered.";
}

std::string other_probe_failed_message() {
    return "A probe failed with a class that is not a repair symptom; certheal only reports it, again when the class "
           "changes. Check the site.";
}

std::string host_trust_changed_message(std::size_t sites_with_cause) {
    return "The client-certificate trust settings of this host changed (see changed). " +
           (sites_with_cause == 0 ? std::string("certheal finds no cause of a rejection in them.")
                                  : "certheal finds a cause of rejection for " + counted(sites_with_cause, "site", "sites") +
                                        "; certheal diagnose says more.") +
           " Check that the change was meant.";
}

std::string client_certificate_expiring_message(bool expired, bool in_store) {
    return std::string(expired ? "The client certificate certheal presents has expired (not_after). "
                               : "The client certificate certheal presents expires within 30 days (not_after). ") +
           (in_store ? "Renew it in the certificate store; certheal takes the renewed one by itself."
                     : "Renew it and update the configuration.");
}

std::string server_certificate_expiring_message(bool expired, const std::string& web_server) {
    return std::string(expired ? "The site's server certificate has expired (not_after)."
                               : "The site's server certificate expires within 30 days (not_after).") +
           " Renew it in " + web_server + " (the site's HTTPS binding).";
}

std::string client_certificate_changed_message(std::size_t sites, bool newer) {
    return "certheal now presents another client certificate from the store to " + counted(sites, "site", "sites") +
           (newer ? ", a newer one. Nothing needs doing; remove the old one once nothing else uses it."
                  : ", an older one: the newer one it used before is gone or no longer valid. Check the store.");
}

std::string root_store_misplaced_message() {
    return "A certificate that is not self-signed sits in LocalMachine\\Root, so IIS rejects client certificates "
           "(KB 2802568). Move it to the CA store (step fix_root_store).";
}

}  // namespace certheal
