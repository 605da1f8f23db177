#pragma once
// The host-wide repair policy. Restarting IIS affects every site on the host, so there is
// exactly one RepairPolicy: one repair at a time, a cooldown after each, at most max_attempts
// repairs per sliding attempt_window, and a circuit breaker that stops repairs after the
// budget is spent on failures until circuit_reset_after has passed or an operator resets it.
//
// The history (attempt start times, end of the last repair, when the circuit opened) is
// persisted through StateStore after every change, so a restart of certheal never grants a
// fresh budget: a crash loop cannot become a restart storm of IIS.
//
// Dry run: request(incident, /*dry_run=*/true) decides exactly as a real request would, so an
// admin sees what certheal would do, but an allowed dry run changes nothing: it is not counted
// against the budget, not persisted and starts no cooldown. It only marks the policy busy
// until finished(), because the dry-run workflow still runs (and logs "would run" per step).
//
// Manual repairs (`certheal repair`) ask through request_manual(): they count against the
// budget like any repair but ignore the cooldown, and --force overrides an open circuit or a
// spent budget. Whoever repairs holds the host-wide RepairLock (when one is set) from an
// allowed request to finished(), so the service and the command line never repair at once (a
// lock that cannot be made refuses the repair: nothing else would keep the two apart);
// and the persisted history is read again before each decision, so the other one's repairs
// count too.
//
// Single-threaded: call everything on the monitor's thread.

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "core/model/config_model.hpp"
#include "core/base/clock.hpp"
#include "core/model/events.hpp"
#include "core/model/ports.hpp"

namespace certheal {

class RepairPolicy {
public:
    struct Decision {
        enum class Verdict { allowed, disabled, busy, cooldown, budget_spent, circuit_open, lock_unavailable };
        Verdict verdict = Verdict::allowed;
        std::optional<TimePoint> retry_after;  // earliest time a request could be allowed; empty when unknown
        std::string reason_sentence;           // for repair_skipped: why, and when it may be retried
        bool allowed() const noexcept { return verdict == Verdict::allowed; }
    };

    RepairPolicy(const RemediationConfig& config, Clock& clock, StateStore& store, EventSink& events);

    // Reads the persisted state. Returns a sentence for the caller to log when the state was
    // unreadable or corrupt (it is then replaced by a fresh state; never fatal). A missing
    // state (first start) is not a warning. May emit circuit_closed when the circuit was open
    // and its quiet period, or the whole attempt window, has passed since.
    std::optional<std::string> load();

    // Asks to start a repair for `incident`. When allowed (and not a dry run) the attempt is
    // recorded and persisted before this returns; the policy is busy until finished().
    Decision request(const std::string& incident, bool dry_run = false);

    // An operator's repair: like request(), but the cooldown does not apply, and with `force`
    // neither does an open circuit or a spent budget. It is refused while another repair runs.
    Decision request_manual(const std::string& incident, bool dry_run, bool force);

    // The host-wide lock to hold while a repair runs; none by default (unit tests, one process).
    void set_host_lock(RepairLock* lock) noexcept { host_lock_ = lock; }

    // From now on an open circuit closes by itself at circuit_reset_after, on a timer of the
    // clock, rather than on the next request or probe. The service calls it once after load();
    // a one-shot command does not (the timer would keep its loop running).
    void close_circuit_on_time();

    // The repair for `incident` ended. Starts the cooldown; a failed repair that leaves the
    // window's budget spent opens the circuit (emits circuit_opened).
    void finished(const std::string& incident, bool succeeded);

    // Closes the circuit once circuit_reset_after has passed since it opened (emits circuit_closed),
    // and saves the state again when the last save failed. request() calls it too; the monitor
    // calls it on every probe result.
    void tick();

    // An operator's reset (`certheal resume`): closes the circuit and clears the attempt
    // history (a fresh budget), and says so with circuit_closed, reason "operator", also when
    // the circuit was already closed (then only the budget starts afresh). The cooldown after
    // the last repair still applies. Refused (false) while a repair runs.
    bool reset_circuit(const std::string& reason);

    // Replaces the policy (config reload). The history is kept.
    void update_config(const RemediationConfig& config);

    bool busy() const noexcept { return busy_.has_value(); }
    bool circuit_open() const noexcept { return circuit_opened_at_.has_value(); }
    std::optional<TimePoint> circuit_opened_at() const noexcept { return circuit_opened_at_; }
    int attempts_in_window() const;  // counted attempts whose start lies within attempt_window of now
    // Earliest time a request would be allowed as far as time-based policy goes (cooldown,
    // budget, circuit), ignoring busy and disabled; now() or earlier when nothing blocks.
    TimePoint next_allowed() const;
    int max_attempts() const noexcept { return config_.max_attempts; }
    std::optional<TimePoint> cooldown_ends_at() const;
    std::optional<TimePoint> circuit_closes_at() const;

    struct LastRepair {
        std::string incident;
        TimePoint ended_at{};
        bool succeeded = false;
        bool manual = false;
    };
    const std::optional<LastRepair>& last_repair() const noexcept { return last_repair_; }

private:
    struct InFlight {
        std::string incident;
        bool dry_run = false;
        bool manual = false;
        bool holds_lock = false;
    };

    struct SavedState {
        std::deque<TimePoint> attempts;
        std::optional<TimePoint> last_repair_end;
        std::optional<TimePoint> circuit_opened_at;
        std::string circuit_incident;
        std::optional<LastRepair> last_repair;
    };
    // Throws std::runtime_error saying what is wrong with the text.
    static SavedState parse_saved_state(const std::string& text, TimePoint now);
    void adopt(SavedState&& saved);
    Decision decide(const std::string& incident, bool dry_run, bool manual, bool force);
    void refresh_from_store();
    void arm_circuit_timer();
    void prune_attempts();
    std::optional<TimePoint> budget_frees_at() const;  // when the oldest counted attempt leaves the window
    void close_circuit(const std::string& reason_sentence, const std::string& reason_code);
    void persist();
    std::string serialize() const;

    RemediationConfig config_;
    Clock& clock_;
    StateStore& store_;
    EventSink& events_;

    std::deque<TimePoint> attempts_;  // start times of counted (non-dry-run) attempts, oldest first
    std::optional<TimePoint> last_repair_end_;
    std::optional<TimePoint> circuit_opened_at_;
    std::string circuit_incident_;  // the incident whose failure opened the circuit
    std::optional<LastRepair> last_repair_;
    std::optional<InFlight> busy_;
    bool unsaved_ = false;  // the last save failed: storage_failed said, tick() retries
    RepairLock* host_lock_ = nullptr;
    bool close_on_time_ = false;
    std::unique_ptr<TimerHandle> circuit_timer_;
};

std::string_view to_string(RepairPolicy::Decision::Verdict verdict) noexcept;  // "cooldown", "circuit_open", ...

}  // namespace certheal
