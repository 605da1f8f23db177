#pragma once
// The sentences of the repair policy and the monitor: why a repair waits, what a repair ended
// as. The policy and the monitor decide; the words they say it with are here, once.

#include "core/base/clock.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace certheal {

// --- why a repair may start, or waits ---------------------------------------------------------

std::string dry_run_would_repair_message();
std::string remediation_disabled_message();
// A repair of this certheal is still running.
std::string repair_running_message();
// The host-wide repair lock is held by another repairer (the service or `certheal repair`).
std::string repair_lock_held_message();
std::string repair_lock_unavailable_message();
// `manual`: an operator asked (certheal repair), who can resume or force.
std::string circuit_open_message(bool manual);
std::string budget_spent_message();
std::string cooldown_message();

// A pause that holds a repair back.
struct PauseFacts {
    std::string site;  // empty: the whole host
    std::optional<TimePoint> until;
    std::string by;
    std::string reason;
};
// "repairs on this host are paused until ... (by ...), so the repair of incident ... is held ..."
std::string paused_message(const PauseFacts& pause, const std::string& incident, bool manual);

// "certheal is starting the 2nd of at most 3 repairs allowed within 1h for incident inc-1."
std::string attempt_starting_message(int attempt, int max_attempts, Duration window, const std::string& incident);

// "Repairs stopped: the last repair the budget allows failed. Check IIS and ..."
std::string circuit_opened_message(const std::string& web_server, TimePoint reset_at);

// --- what the monitor says of a repair ------------------------------------------------------

// "Dry run is on: certheal logs the repair's 3 stages as they would run ..."
std::string dry_run_repair_message(std::size_t count, bool stages);
std::string no_stage_applies_message();

// "certheal started a repair of 2 sites with 3 stages, least disruptive first (attempt 1 of 3 in
// the window)."; `count` is of stages (`stages`) or of steps.
std::string repair_started_message(std::size_t sites, std::size_t count, bool stages, int attempt, int max_attempts);

// The sites were verified healthy after stage `stage` of `stages`.
std::string ladder_succeeded_message(std::size_t stage, std::size_t stages);
// Every step of the one list ran; `verified`: a verify step saw the sites healthy.
std::string steps_succeeded_message(bool verified);

// How a repair failed, as far as its event's message tells.
struct RepairFailureFacts {
    bool cancelled = false;      // certheal is stopping
    bool ladder = false;         // no stage healed the sites
    std::optional<std::size_t> failed_step;  // 0-based, of the one list of steps
    bool last_attempt = false;   // the budget allows no other: certheal stops repairing
};
std::string repair_failed_message(const RepairFailureFacts& facts);

// --- the service ----------------------------------------------------------------------------

// "certheal started and monitors 3 sites." and what of remediation is off.
std::string service_started_message(std::size_t sites, bool dry_run, bool remediation_enabled);
// `needs_restart`: a changed setting takes effect only after a restart.
std::string config_reloaded_message(std::size_t sites, bool needs_restart);

// --- what the probes say about a site ---------------------------------------------------------

std::string state_reset_message();
std::string site_recovered_message();
// The site passed a probe after failures that were not a repair symptom.
std::string probe_recovered_message();
// A failed probe with a repair symptom: `consecutive` of `threshold` confirm it.
std::string symptom_probe_failed_message(int consecutive, int threshold);
// A failed probe with a class that is not a repair symptom.
std::string other_probe_failed_message();
// The host's client-certificate trust settings changed; `sites_with_cause`: how many sites the
// diagnosis now finds a cause of rejection for.
std::string host_trust_changed_message(std::size_t sites_with_cause);

// --- certificates the monitor watches ---------------------------------------------------------

// The client certificate certheal presents: `expired`, or within 30 days of it; `in_store`: it
// comes from the Windows store, where a renewal is taken by itself.
std::string client_certificate_expiring_message(bool expired, bool in_store);
// The site's server certificate; `web_server` is where it is renewed.
std::string server_certificate_expiring_message(bool expired, const std::string& web_server);
// Another certificate from the store is presented to `sites` sites; `newer` than the one before.
std::string client_certificate_changed_message(std::size_t sites, bool newer);
std::string root_store_misplaced_message();

}  // namespace certheal
