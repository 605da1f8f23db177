#include "core/policy/repair_policy.hpp"

#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "core/base/duration.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

// The repair policy's files, by what their parts do:
//   repair_policy.cpp              the history's life: time, load, refresh, commit, save
//   repair_policy_saved_state.cpp  state.json read, merged and written
//   repair_policy_decision.cpp     whether a repair may start, and its end
//   repair_policy_pause.cpp        the maintenance pause
//   repair_policy_circuit.cpp      the budget, the cooldown and the circuit breaker

namespace certheal {
namespace {

// Older than every window certheal can be configured with (durations are at most 100 years):
// a saved time further back only needs to count as "long ago", and is measured as this old so
// that the arithmetic on the monotonic clock cannot overflow.
constexpr auto kLongAgo = std::chrono::hours(24 * 365 * 150);

}  // namespace

std::string_view to_string(RepairPolicy::Decision::Verdict verdict) noexcept {
    using Verdict = RepairPolicy::Decision::Verdict;
    switch (verdict) {
        case Verdict::allowed: return "allowed";
        case Verdict::disabled: return "disabled";
        case Verdict::paused: return "paused";
        case Verdict::busy: return "busy";
        case Verdict::cooldown: return "cooldown";
        case Verdict::budget_spent: return "budget_spent";
        case Verdict::circuit_open: return "circuit_open";
        case Verdict::lock_unavailable: return "lock_unavailable";
    }
    return "allowed";
}

RepairPolicy::RepairPolicy(const RemediationConfig& config, Clock& clock, StateStore& store, EventSink& events)
    : config_(config), clock_(clock), store_(store), events_(events) {}

void RepairPolicy::update_config(const RemediationConfig& config) { config_ = config; }

// --- time --------------------------------------------------------------------------------------

RepairPolicy::Moment RepairPolicy::moment_now() const {
    const auto wall = clock_.wall_now();
    const auto recorded = std::chrono::floor<std::chrono::milliseconds>(wall);
    // Measured from the same millisecond the wall time keeps, so that a moment saved and read
    // back is measured exactly where it was.
    return {recorded, clock_.monotonic_now() - std::chrono::duration_cast<MonotonicTime::duration>(wall - recorded)};
}

// The rule for a saved (wall) time, in one place: its age is how far it lies behind the wall
// clock now, measured back from the monotonic clock now; a time ahead of now is counted as now
// (and counted, to be said), because nothing certheal wrote can lie in the future unless the
// clock was ahead then, and "now" is the latest it can truly be. The moment keeps the saved
// time as `recorded`: it still names the record (an attempt) when it is read again.
RepairPolicy::Moment RepairPolicy::moment_from_saved(TimePoint recorded, Reading& reading) const {
    return {recorded, measured_from_saved(recorded, reading)};
}

MonotonicTime RepairPolicy::measured_from_saved(TimePoint saved, Reading& reading) const {
    if (saved > reading.wall_now) {
        ++reading.clamped;
        reading.furthest_ahead =
            std::max(reading.furthest_ahead, std::chrono::duration_cast<Duration>(saved - reading.wall_now));
        return reading.monotonic_now;
    }
    const auto age = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(reading.wall_now - saved),
                              std::chrono::duration_cast<std::chrono::milliseconds>(kLongAgo));
    return reading.monotonic_now - std::chrono::duration_cast<MonotonicTime::duration>(age);
}

// A moment recorded later than the clock reads now (read from the future, or the wall clock was
// set back since) is saved as measured, in today's wall time; it takes that as its recorded
// time too, so that reading it back finds the same moment. An attempt keeps its recorded start
// (its name across processes) and is saved with counted_from instead (serialize()).
void RepairPolicy::normalize_future_times(History& history) const {
    const auto normalize = [this](Moment& moment) { moment.recorded = saved_time(moment); };
    if (history.last_repair_end) normalize(*history.last_repair_end);
    if (history.circuit) normalize(history.circuit->at);
    if (history.operator_reset) normalize(*history.operator_reset);
    if (history.last_repair) normalize(history.last_repair->ended);
    for (auto& [scope, decision] : history.pauses) normalize(decision.at);
}

// What state.json says for a moment: the time it was recorded at, unless that lies ahead of the
// clock now (it was read from the future, or the clock was set back since): then the moment as
// measured, in today's wall time, so that the next reading has nothing to count as now again.
TimePoint RepairPolicy::saved_time(const Moment& moment) const {
    if (moment.recorded <= clock_.wall_now()) return moment.recorded;
    return std::chrono::floor<std::chrono::milliseconds>(wall_of(moment.measured));
}

TimePoint RepairPolicy::wall_of(MonotonicTime measured) const {
    return clock_.wall_now() - std::chrono::duration_cast<TimePoint::duration>(clock_.monotonic_now() - measured);
}

// --- the history: loaded, refreshed, changed and saved --------------------------------------

void RepairPolicy::say_clamped(const Reading& reading) {
    if (reading.clamped == 0) return;
    Event event;
    event.id = EventId::repair_skipped;
    event.time = clock_.wall_now();
    event.message = "certheal's saved repair history held " + std::to_string(reading.clamped) +
                    " time(s) up to " + format_duration(reading.furthest_ahead) +
                    " ahead of this host's clock (the clock was ahead when they were written and was set back "
                    "since). certheal counts them as now and keeps the history, so the cooldown, the budget and the "
                    "circuit breaker run from now, never longer; check the host's time synchronisation.";
    event.details = {{"reason", "state_times_clamped"},
                     {"clamped", reading.clamped},
                     {"ahead_by", format_duration(reading.furthest_ahead)}};
    events_.emit(event);
}

void RepairPolicy::commit(const std::function<void(History&)>& change) {
    bool changed = false;
    Reading reading;
    const auto saved = store_.update([&](const std::optional<std::string>& text) {
        if (text) {
            try {
                Reading merged_reading;
                auto parsed = parse_saved_state(*text, merged_reading);
                merge_into(history_, std::move(parsed));
                reading = merged_reading;
            } catch (const std::exception&) {
                // What is saved is not a state certheal can read (load() said so at start):
                // the history in memory replaces it.
            }
        }
        change(history_);
        changed = true;
        normalize_future_times(history_);
        return serialize();
    });
    if (!changed) change(history_);  // not saved: the change holds in memory, tick() saves it later
    after_save(saved);
    // Saved, the times from the future are gone from the file and are said once. Unsaved, they
    // would be read again on every retry: said once until a save succeeds.
    if (reading.clamped > 0 && (saved || !clamps_said_unsaved_)) {
        clamps_said_unsaved_ = !saved;
        say_clamped(reading);
    }
    arm_circuit_timer();
    arm_pause_timer();
    if (change_listener_) change_listener_();
}

void RepairPolicy::refresh_from_store() {
    // The other repairer on the host (the service, or `certheal repair`) may have written the
    // history since: decide on both. A file that cannot be read now leaves the history in
    // memory as it is (load() said so at start).
    auto loaded = store_.load();
    if (!loaded || !loaded.value()) return;
    Reading reading;
    const auto before = std::make_tuple(circuit_open(), history_.attempts.size(),
                                        history_.last_repair ? history_.last_repair->ended.recorded : TimePoint{},
                                        pauses_signature());
    try {
        merge_into(history_, parse_saved_state(*loaded.value(), reading));
    } catch (const std::exception&) {
        return;
    }
    // Saved as now at once (and said by commit), so no reading counts them again.
    if (reading.clamped > 0) commit([](History&) {});
    arm_circuit_timer();
    arm_pause_timer();
    const auto after = std::make_tuple(circuit_open(), history_.attempts.size(),
                                       history_.last_repair ? history_.last_repair->ended.recorded : TimePoint{},
                                       pauses_signature());
    if (before != after && change_listener_) change_listener_();
}

void RepairPolicy::after_save(const Result<Done>& saved) {
    if (!saved) {
        if (unsaved_) return;  // said once per episode; tick() tries again
        unsaved_ = true;
        Event event;
        event.id = EventId::storage_failed;
        event.time = clock_.wall_now();
        event.message = "certheal could not save its repair history: " + as_clause(saved.error().message) +
                        ". It keeps enforcing the repair budget and the circuit breaker from memory and saves them "
                        "again as soon as it can; until then a restart would forget them. Free space on the disk "
                        "or fix the state folder's permissions.";
        event.details = {{"what", "state"}, {"error", saved.error().message}};
        events_.emit(event);
        return;
    }
    if (!unsaved_) return;
    unsaved_ = false;
    Event event;
    event.id = EventId::storage_recovered;
    event.time = clock_.wall_now();
    event.message = "certheal saved its repair history again; a restart keeps the repair budget and the circuit breaker.";
    event.details = {{"what", "state"}};
    events_.emit(event);
}

std::optional<std::string> RepairPolicy::load() {
    history_ = History{};
    std::optional<std::string> problem;
    Reading reading;
    auto loaded = store_.load();
    if (!loaded) {
        problem = loaded.error().message;
    } else if (loaded.value()) {
        try {
            merge_into(history_, parse_saved_state(*loaded.value(), reading));
        } catch (const std::exception& error) {
            problem = std::string("it is not valid certheal state (") + error.what() + ")";
        }
    }

    std::optional<std::string> warning;
    if (problem) {
        // Starting afresh is the only way forward; say plainly that the budget restarted.
        warning = "certheal could not read its saved repair history: " + *problem +
                  ". It started with a fresh history, so the repair budget and the circuit breaker start "
                  "from zero; check the state file in the state folder.";
        commit([](History&) {});
    } else if (reading.clamped > 0) {
        commit([](History&) {});  // saved as now (and said), so the next start does not count them again
    }

    if (circuit_open()) {
        const auto now = clock_.monotonic_now();
        if (now >= *circuit_close()) {
            close_circuit("The repair circuit breaker closed: its quiet period (reset_after) passed while certheal "
                          "was not running; certheal may repair again.",
                          "quiet_period");
        } else if (!history_.attempts.empty() &&
                   now >= history_.attempts.back().started.measured + config_.attempt_window) {
            close_circuit("The repair circuit breaker closed: the attempt window (window) passed since the last "
                          "repair while certheal was not running; certheal may repair again.",
                          "attempt_window_passed");
        }
    }
    end_due_pauses(/*while_stopped=*/true);
    arm_circuit_timer();
    arm_pause_timer();
    return warning;
}

}  // namespace certheal
