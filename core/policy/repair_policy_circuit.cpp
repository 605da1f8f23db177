#include "core/policy/repair_policy.hpp"

#include "core/base/duration.hpp"
#include "core/base/time_format.hpp"

#include <algorithm>
#include <vector>

#include <nlohmann/json.hpp>

// The budget (attempts within the window), the cooldown after a repair, and the circuit breaker
// that stops repairs once the budget is spent on failures: each on its own timer or tick.

namespace certheal {

// --- the circuit's own timer, and the tick that also ends what is due --------------------------

void RepairPolicy::close_circuit_on_time() {
    close_on_time_ = true;
    arm_circuit_timer();
    arm_pause_timer();
}

void RepairPolicy::arm_circuit_timer() {
    if (!close_on_time_ || !circuit_open()) {
        circuit_timer_.reset();
        return;
    }
    // Rounded up, so the timer never fires a moment before the quiet period has passed. Timers
    // run on the monotonic clock, as the quiet period is measured.
    const auto left = std::chrono::ceil<Duration>(*circuit_close() - clock_.monotonic_now());
    const auto delay = std::max(Duration::zero(), left);
    circuit_timer_ = clock_.after(delay, [this] { tick(); });
}

void RepairPolicy::tick() {
    if (unsaved_) commit([](History&) {});  // the state folder may be writable again
    if (circuit_open() && clock_.monotonic_now() >= *circuit_close()) {
        close_circuit("The repair circuit breaker closed by itself after its quiet period (reset_after); certheal "
                      "may repair again.",
                      "quiet_period");
    }
    end_due_pauses(/*while_stopped=*/false);
}

// --- closing the circuit: by an operator, by time --------------------------------------------

bool RepairPolicy::reset_circuit(const std::string& reason) {
    if (busy_) return false;
    // An operator who resets the breaker has looked at the host and wants repairs back:
    // the old attempts would otherwise keep the budget spent. Recorded as a reset, so that
    // whoever saves an older copy of the history later cannot bring them back.
    const auto now = moment_now();
    bool was_open = false;
    std::optional<Moment> opened_at;
    std::string incident;
    commit([&](History& history) {
        was_open = history.circuit && history.circuit->open;
        if (was_open) {
            opened_at = history.circuit->at;
            incident = history.circuit->incident;
        }
        history.operator_reset = now;
        history.attempts.clear();
        history.circuit = CircuitDecision{false, now, ""};
    });
    Event event;
    event.id = EventId::circuit_closed;
    event.time = clock_.wall_now();
    event.incident = incident;
    event.message = was_open ? "An operator reset the repair circuit breaker; certheal may repair again and its "
                               "repair budget starts afresh."
                             : "An operator cleared the repair budget (the circuit breaker was already closed); "
                               "certheal may repair again.";
    event.details = {{"reason", "operator"}, {"was_open", was_open}};
    if (!reason.empty()) event.details["requested_by"] = reason;
    if (opened_at) event.details["opened_at"] = format_time_utc(wall_of(opened_at->measured));
    events_.emit(event);
    return true;
}

void RepairPolicy::close_circuit(const std::string& reason_sentence, const std::string& reason_code) {
    std::optional<CircuitDecision> closed;
    const auto now = moment_now();
    commit([&](History& history) {
        // On the merged history: another process may have closed it already (then it said so),
        // or opened it again since.
        if (!history.circuit || !history.circuit->open) return;
        if (reason_code == "quiet_period" &&
            now.measured < history.circuit->at.measured + config_.circuit_reset_after) {
            return;
        }
        closed = history.circuit;
        history.circuit = CircuitDecision{false, now, ""};
    });
    if (!closed) return;
    Event event;
    event.id = EventId::circuit_closed;
    event.time = clock_.wall_now();
    event.incident = closed->incident;
    event.message = reason_sentence;
    event.details = {{"reason", reason_code},
                     {"opened_at", format_time_utc(wall_of(closed->at.measured))},
                     {"reset_after", format_duration(config_.circuit_reset_after)},
                     {"window", format_duration(config_.attempt_window)}};
    events_.emit(event);
}

// --- what the status shows ---------------------------------------------------------------------

std::optional<TimePoint> RepairPolicy::circuit_opened_at() const {
    if (!circuit_open()) return std::nullopt;
    return wall_of(history_.circuit->at.measured);
}

std::optional<MonotonicTime> RepairPolicy::circuit_close() const {
    if (!circuit_open()) return std::nullopt;
    return history_.circuit->at.measured + config_.circuit_reset_after;
}

std::optional<TimePoint> RepairPolicy::circuit_closes_at() const {
    const auto close = circuit_close();
    if (!close) return std::nullopt;
    return wall_of(*close);
}

bool RepairPolicy::failure_stops_repairs() const {
    if (busy_ && busy_->dry_run) return false;
    return circuit_open() || attempts_in_window() >= config_.max_attempts;
}

int RepairPolicy::attempts_in_window() const {
    const auto window_start = clock_.monotonic_now() - config_.attempt_window;
    return static_cast<int>(std::count_if(history_.attempts.begin(), history_.attempts.end(),
                                          [window_start](const Attempt& attempt) {
                                              return attempt.started.measured > window_start;
                                          }));
}

TimePoint RepairPolicy::next_allowed() const {
    auto next = clock_.monotonic_now();
    if (const auto cooldown = cooldown_end()) next = std::max(next, *cooldown);
    if (attempts_in_window() >= config_.max_attempts) {
        if (const auto frees = budget_frees()) next = std::max(next, *frees);
    }
    if (const auto close = circuit_close()) next = std::max(next, *close);
    return wall_of(next);
}

// Every attempt is looked at, in whatever order the history holds them (a merge, or a saved
// state edited by hand, may hold them in any order).
void RepairPolicy::prune_attempts(History& history) const {
    const auto window_start = clock_.monotonic_now() - config_.attempt_window;
    std::erase_if(history.attempts,
                  [window_start](const Attempt& attempt) { return attempt.started.measured <= window_start; });
}

std::optional<MonotonicTime> RepairPolicy::budget_frees() const {
    // With max_attempts counted attempts, the (count - max + 1)th oldest must leave the window.
    const auto window_start = clock_.monotonic_now() - config_.attempt_window;
    std::vector<MonotonicTime> counted;
    for (const auto& attempt : history_.attempts) {
        if (attempt.started.measured > window_start) counted.push_back(attempt.started.measured);
    }
    if (counted.empty() || static_cast<int>(counted.size()) < config_.max_attempts) return std::nullopt;
    std::sort(counted.begin(), counted.end());
    const auto index = counted.size() - static_cast<std::size_t>(std::max(config_.max_attempts, 1));
    return counted[index] + config_.attempt_window;
}

std::optional<MonotonicTime> RepairPolicy::cooldown_end() const {
    // Measured from the later of the last repair's end and the latest attempt's start: if
    // certheal died during a repair, the end was never recorded and the start still holds.
    std::optional<MonotonicTime> last;
    if (history_.last_repair_end) last = history_.last_repair_end->measured;
    for (const auto& attempt : history_.attempts) {
        if (!last || attempt.started.measured > *last) last = attempt.started.measured;
    }
    if (!last) return std::nullopt;
    return *last + config_.cooldown;
}

std::optional<TimePoint> RepairPolicy::cooldown_ends_at() const {
    const auto end = cooldown_end();
    if (!end) return std::nullopt;
    return wall_of(*end);
}

std::optional<RepairPolicy::LastRepair> RepairPolicy::last_repair() const {
    if (!history_.last_repair) return std::nullopt;
    const auto& last = *history_.last_repair;
    return LastRepair{last.incident, wall_of(last.ended.measured), last.succeeded, last.manual};
}

}  // namespace certheal
