#include "core/policy/repair_policy.hpp"

#include "core/base/duration.hpp"
#include "core/describe/policy_sentences.hpp"
#include "core/base/time_format.hpp"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

// Whether a repair may start (and if not, the sentence that says why), and its end.

namespace certheal {

// --- decisions ---------------------------------------------------------------------------------

RepairPolicy::Decision RepairPolicy::request(const std::string& incident, bool dry_run, const std::string& site) {
    return decide(incident, dry_run, /*manual=*/false, /*force=*/false, site);
}

RepairPolicy::Decision RepairPolicy::request_manual(const std::string& incident, bool dry_run, bool force,
                                                    const std::string& site) {
    return decide(incident, dry_run, /*manual=*/true, force, site);
}

RepairPolicy::Decision RepairPolicy::decide(const std::string& incident, bool dry_run, bool manual, bool force,
                                            const std::string& site) {
    refresh_from_store();
    tick();
    prune_attempts(history_);
    if (auto refused = refusal(incident, manual, force, site)) return std::move(*refused);
    bool holds_lock = false;
    if (auto refused = take_host_lock(dry_run, holds_lock)) return std::move(*refused);
    busy_ = InFlight{incident, dry_run, manual, holds_lock};
    if (dry_run) {
        return {Decision::Verdict::allowed, std::nullopt, dry_run_would_repair_message()};
    }
    return start_attempt(incident);
}

// In the order they are said: the first that applies is the reason a repair waits.
std::optional<RepairPolicy::Decision> RepairPolicy::refusal(const std::string& incident, bool manual, bool force,
                                                            const std::string& site) const {
    using Verdict = Decision::Verdict;
    // remediation.enabled governs what certheal does by itself; an operator's repair is asked for.
    if (!config_.enabled && !manual) {
        return Decision{Verdict::disabled, std::nullopt, remediation_disabled_message()};
    }
    if (const auto held = pause_holding(site); held && !force) {
        return Decision{Verdict::paused, held->until,
                        paused_message({held->site, held->until, held->by, held->reason}, incident, manual)};
    }
    if (busy_) {
        Decision running{Verdict::busy, std::nullopt, repair_running_message()};
        running.details = {{"running_incident", busy_->incident}};
        return running;
    }
    if (!force) {
        if (auto refused = circuit_refusal(manual)) return refused;
        if (auto refused = budget_refusal()) return refused;
    }
    // An operator's repair is asked for now: the cooldown is for what certheal does by itself.
    if (!manual) return cooldown_refusal();
    return std::nullopt;
}

std::optional<RepairPolicy::Decision> RepairPolicy::circuit_refusal(bool manual) const {
    if (!circuit_open()) return std::nullopt;
    const auto opened_at = format_time_utc(*circuit_opened_at());
    const auto reset_at = wall_of(*circuit_close());
    Decision refused{Decision::Verdict::circuit_open, reset_at, circuit_open_message(manual)};
    refused.details = {{"opened_at", opened_at}, {"closes_at", format_time_utc(reset_at)}};
    return refused;
}

std::optional<RepairPolicy::Decision> RepairPolicy::budget_refusal() const {
    if (static_cast<int>(history_.attempts.size()) < config_.max_attempts) return std::nullopt;
    auto retry = budget_frees().value_or(clock_.monotonic_now());
    if (const auto cooldown = cooldown_end()) retry = std::max(retry, *cooldown);
    const auto retry_at = wall_of(retry);
    Decision spent{Decision::Verdict::budget_spent, retry_at, budget_spent_message()};
    spent.details = {{"attempts", history_.attempts.size()},
                     {"max_attempts", config_.max_attempts},
                     {"window", format_duration(config_.attempt_window)}};
    return spent;
}

std::optional<RepairPolicy::Decision> RepairPolicy::cooldown_refusal() const {
    const auto cooldown = cooldown_end();
    if (!cooldown || clock_.monotonic_now() >= *cooldown) return std::nullopt;
    const auto retry_at = wall_of(*cooldown);
    Decision cooling{Decision::Verdict::cooldown, retry_at, cooldown_message()};
    cooling.details = {{"cooldown", format_duration(config_.cooldown)}};
    return cooling;
}

// The host-wide lock is taken by a real repair only: a dry run changes nothing to keep apart.
std::optional<RepairPolicy::Decision> RepairPolicy::take_host_lock(bool dry_run, bool& holds_lock) {
    using Verdict = Decision::Verdict;
    holds_lock = false;
    if (host_lock_ == nullptr || dry_run) return std::nullopt;
    const auto taken = host_lock_->try_acquire();
    if (taken && !taken.value()) {
        return Decision{Verdict::busy, std::nullopt, repair_lock_held_message()};
    }
    // A lock that cannot be made (a folder planted at its name, a read-only or immutable
    // state folder) keeps nothing else from repairing at the same time: no repair then.
    if (!taken) {
        Decision no_lock{Verdict::lock_unavailable, std::nullopt, repair_lock_unavailable_message()};
        no_lock.details = {{"error", taken.error().message}};
        return no_lock;
    }
    holds_lock = taken.value();
    return std::nullopt;
}

RepairPolicy::Decision RepairPolicy::start_attempt(const std::string& incident) {
    const auto started = moment_now();
    commit([&](History& history) {
        history.attempts.push_back({started, incident});
        prune_attempts(history);
    });
    return {Decision::Verdict::allowed, std::nullopt,
            attempt_starting_message(static_cast<int>(history_.attempts.size()), config_.max_attempts,
                                     config_.attempt_window, incident)};
}

void RepairPolicy::finished(const std::string& incident, bool succeeded) {
    if (!busy_) return;  // nothing in flight: a stray call changes nothing
    const auto in_flight = *busy_;
    busy_.reset();
    if (in_flight.dry_run) {
        if (in_flight.holds_lock && host_lock_ != nullptr) host_lock_->release();
        return;
    }

    const auto ended = moment_now();
    int attempts = 0;
    bool opened = false;
    // Decided on the saved history as it is now: an operator's reset during this repair (the
    // service's `certheal resume` while `certheal repair` ran) keeps the budget fresh.
    commit([&](History& history) {
        history.last_repair_end = ended;
        history.last_repair = LastRepairRecord{ended, incident, succeeded, in_flight.manual};
        prune_attempts(history);
        attempts = static_cast<int>(history.attempts.size());
        const bool already_open = history.circuit && history.circuit->open;
        if (!succeeded && attempts >= config_.max_attempts && !already_open) {
            history.circuit = CircuitDecision{true, ended, incident};
            opened = true;
        }
    });
    // Released once the outcome is saved: the next repairer decides on it.
    if (in_flight.holds_lock && host_lock_ != nullptr) host_lock_->release();
    if (!opened) return;

    const auto reset_at = wall_of(*circuit_close());
    Event event;
    event.id = EventId::circuit_opened;
    event.time = clock_.wall_now();
    event.incident = incident;
    // What to do and when it ends by itself; the counts and the window are fields.
    event.message = circuit_opened_message(config_.web_server, reset_at);
    event.details = {
        {"attempts", attempts},
        {"max_attempts", config_.max_attempts},
        {"window", format_duration(config_.attempt_window)},
        {"reset_after", format_duration(config_.circuit_reset_after)},
        {"reset_at", format_time_utc(reset_at)},
    };
    events_.emit(event);
}

}  // namespace certheal
