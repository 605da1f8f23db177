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
// Time. While certheal runs, every duration of the policy (cooldown, attempt window, quiet
// period of the circuit) is measured on the monotonic clock, so a step of the wall clock (an
// administrator, NTP, a VM restored from a snapshot) neither holds repairs for the length of
// the step nor grants them early. state.json keeps wall times, since a monotonic clock means
// nothing after a restart; a saved time later than now (the clock ran ahead when it was written
// and was set back since) is counted as now, said once (repair_skipped, reason
// state_times_clamped) and saved as now, so it never keeps the budget spent or the circuit
// open for longer than the configured durations from the moment it is read, and never makes
// certheal drop the whole history.
//
// Merging. The service and the command line (`certheal repair`, `certheal resume`) each keep
// the history in memory and change it while the other may have changed the file. Every change
// is therefore made under the state store's lock on the history merged with what is saved, and
// every decision re-reads it first; no writer ever replaces the file with its own older copy:
// - attempts are a union keyed by their start time (as first recorded) and incident;
// - an operator's reset (`certheal resume`) wins over everything recorded before it: attempts
//   that started before the latest reset no longer count, and a circuit opened before it is
//   closed;
// - the circuit's latest decision (opened, closed by its quiet period, reset) wins;
// - the last repair's end and the last repair are the latest either side knows.
//
// Maintenance pause (`certheal pause`): while the host, or one site, is paused, no repair
// starts for it (request() answers `paused`; an operator's repair only with --force); probes go
// on. A pause lasts a given time (measured like the other durations, from when it was asked
// for) or until `certheal unpause`, is saved with the history (the latest decision per scope
// wins a merge; at the same moment an unpause wins) and so survives a restart, and ends by
// itself at its time: on a timer of the clock once close_circuit_on_time() was called, else on
// the next request or tick(). Its start and end are said (paused, unpaused) with who asked.
//
// Single-threaded: call everything on the monitor's thread.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/config_model.hpp"
#include "core/base/clock.hpp"
#include "core/model/events.hpp"
#include "core/model/ports.hpp"

namespace certheal {

class RepairPolicy {
public:
    struct Decision {
        enum class Verdict { allowed, disabled, paused, busy, cooldown, budget_spent, circuit_open, lock_unavailable };
        Verdict verdict = Verdict::allowed;
        std::optional<TimePoint> retry_after;  // earliest time a request could be allowed; empty when unknown
        std::string reason_sentence;           // for repair_skipped: why, and what happens next
        nlohmann::json details = nlohmann::json::object();  // the facts of the sentence, for the event's fields
        bool allowed() const noexcept { return verdict == Verdict::allowed; }
    };

    RepairPolicy(const RemediationConfig& config, Clock& clock, StateStore& store, EventSink& events);

    // Reads the persisted state. Returns a sentence for the caller to log when the state was
    // unreadable or corrupt (it is then replaced by a fresh state; never fatal). A missing
    // state (first start) is not a warning. May emit circuit_closed when the circuit was open
    // and its quiet period, or the whole attempt window, has passed since, and repair_skipped
    // (reason state_times_clamped) when saved times lay in the future.
    std::optional<std::string> load();

    // Asks to start a repair for `incident`, whose symptom `site` confirmed (empty: no one
    // site). When allowed (and not a dry run) the attempt is recorded and persisted before this
    // returns; the policy is busy until finished().
    Decision request(const std::string& incident, bool dry_run = false, const std::string& site = {});

    // An operator's repair: like request(), but the cooldown does not apply, and with `force`
    // neither does an open circuit, a spent budget or a pause. It is refused while another repair
    // runs.
    Decision request_manual(const std::string& incident, bool dry_run, bool force, const std::string& site = {});

    // A pause in force, as status and events show it (wall times on the clock as it reads now).
    struct Pause {
        std::string site;  // empty: the whole host
        TimePoint since{};
        std::optional<TimePoint> until;  // none: until `certheal unpause`
        std::optional<Duration> length;
        std::string by;      // who asked (a user name)
        std::string reason;  // as the operator gave it; may be empty
    };
    // Pauses repairs of the whole host (`site` empty) or of one site, from now for `length`
    // (none: until unpause()), replacing a pause of the same scope. Saved, then said (paused).
    Pause pause(const std::string& site, std::optional<Duration> length, const std::string& by,
                const std::string& reason);
    // Ends the pause of one site, or (`site` empty) every pause: the host's and each site's.
    // Says unpaused for each that was in force; returns how many ended.
    int unpause(const std::string& site, const std::string& by);
    // The pause that holds a repair for `site` now: the host's, else the site's own.
    std::optional<Pause> pause_holding(const std::string& site) const;
    // Every pause in force: the host's first, then the sites' by name.
    std::vector<Pause> pauses() const;
    // Reads the saved history again (another process paused or unpaused) and ends what is due.
    void refresh();

    // The host-wide lock to hold while a repair runs; none by default (unit tests, one process).
    void set_host_lock(RepairLock* lock) noexcept { host_lock_ = lock; }

    // From now on an open circuit closes by itself at circuit_reset_after, and a pause ends at
    // its time, on a timer of the clock, rather than on the next request or probe. The service
    // calls it once after load(); a one-shot command does not (the timer would keep its loop
    // running).
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
    // the last repair still applies. Refused (false) while a repair of this policy runs; a
    // repair another process runs meanwhile cannot write the old attempts back (see Merging).
    bool reset_circuit(const std::string& reason);

    // Called after the history changed: this policy saved a change, or found one another
    // process saved (the status shows the policy).
    void on_change(std::function<void()> listener) { change_listener_ = std::move(listener); }

    // Replaces the policy (config reload). The history is kept.
    void update_config(const RemediationConfig& config);

    bool busy() const noexcept { return busy_.has_value(); }
    bool circuit_open() const noexcept { return history_.circuit && history_.circuit->open; }
    // Wall times below are on the wall clock as it reads now (the monotonic measurement shown
    // in today's wall time).
    std::optional<TimePoint> circuit_opened_at() const;
    int attempts_in_window() const;  // counted attempts whose start lies within attempt_window of now
    // Whether a failure of the repair in flight leaves no retry: the circuit is open or opens
    // with it. repair_failed, written before circuit_opened, says so instead of promising one.
    bool failure_stops_repairs() const;
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
    std::optional<LastRepair> last_repair() const;

private:
    struct InFlight {
        std::string incident;
        bool dry_run = false;
        bool manual = false;
        bool holds_lock = false;
    };

    // A moment the policy remembers. `recorded` is the wall time it happened at, to the
    // millisecond, by the clock of that moment: what state.json keeps, and (with the incident)
    // what names an attempt across processes. `measured` is the same moment on this process's
    // monotonic clock, from which every duration is measured.
    struct Moment {
        TimePoint recorded{};
        MonotonicTime measured{};
    };
    struct Attempt {
        Moment started;
        std::string incident;
    };
    struct CircuitDecision {
        bool open = false;
        Moment at;             // when it opened, or closed
        std::string incident;  // the incident whose failure opened it
    };
    struct LastRepairRecord {
        Moment ended;
        std::string incident;
        bool succeeded = false;
        bool manual = false;
    };
    // The latest pause decision of one scope: a pause (for `length`, none: until unpaused) or
    // its end.
    struct PauseDecision {
        bool paused = false;
        Moment at;
        std::optional<Duration> length;
        std::string by;
        std::string reason;
    };
    struct History {
        std::map<std::string, PauseDecision> pauses;  // by site; "" is the whole host
        std::vector<Attempt> attempts;  // counted (non-dry-run) attempts, by `measured`, oldest first
        std::optional<Moment> last_repair_end;
        std::optional<CircuitDecision> circuit;  // the latest decision; none before the first
        std::optional<Moment> operator_reset;    // the latest `certheal resume`
        std::optional<LastRepairRecord> last_repair;
    };
    // What reading a saved state found beyond the history itself.
    struct Reading {
        TimePoint wall_now{};
        MonotonicTime monotonic_now{};
        int clamped = 0;          // saved times later than now, counted as now
        Duration furthest_ahead{};  // the latest of them, ahead of now by this much
    };

    // Throws std::runtime_error saying what is wrong with the text. Its steps read one part of
    // the saved state each, and throw the same way.
    History parse_saved_state(const std::string& text, Reading& reading) const;
    std::vector<Attempt> read_attempts(const nlohmann::json& attempts, Reading& reading) const;
    std::optional<CircuitDecision> read_circuit(const nlohmann::json& state, Reading& reading) const;
    std::optional<LastRepairRecord> read_last_repair(const nlohmann::json& state, Reading& reading) const;
    std::map<std::string, PauseDecision> read_pauses(const nlohmann::json& state, Reading& reading) const;
    PauseDecision read_pause(const nlohmann::json& entry, Reading& reading) const;
    static void merge_into(History& mine, History&& saved);
    Moment moment_now() const;
    Moment moment_from_saved(TimePoint recorded, Reading& reading) const;
    MonotonicTime measured_from_saved(TimePoint saved, Reading& reading) const;
    TimePoint saved_time(const Moment& moment) const;
    void normalize_future_times(History& history) const;
    TimePoint wall_of(MonotonicTime measured) const;
    // Re-reads the saved history and merges it into memory (no write unless times were clamped).
    void refresh_from_store();
    // Makes `change` on the history merged with what is saved, under the store's lock, and
    // saves the result; when that fails the change holds in memory and tick() saves it later.
    void commit(const std::function<void(History&)>& change);
    void say_clamped(const Reading& reading);
    Decision decide(const std::string& incident, bool dry_run, bool manual, bool force, const std::string& site);
    // The steps of decide(): what refuses a repair before it may start (none: nothing does),
    // the host-wide lock, and the attempt recorded.
    std::optional<Decision> refusal(const std::string& incident, bool manual, bool force, const std::string& site) const;
    std::optional<Decision> circuit_refusal(bool manual) const;
    std::optional<Decision> budget_refusal() const;
    std::optional<Decision> cooldown_refusal() const;
    std::optional<Decision> take_host_lock(bool dry_run, bool& holds_lock);
    Decision start_attempt(const std::string& incident);
    void arm_circuit_timer();
    void arm_pause_timer();
    // When the pause of this decision ends, on the monotonic clock; none: not paused, or until unpaused.
    static std::optional<MonotonicTime> pause_end(const PauseDecision& decision);
    bool pause_in_force(const PauseDecision& decision) const;
    Pause pause_view(const std::string& site, const PauseDecision& decision) const;
    // Ends each pause whose time has come (unless, on the saved history, it ended or was renewed).
    void end_due_pauses(bool while_stopped);
    void say_unpaused(const Pause& ended, const std::string& by, bool by_itself, bool while_stopped);
    std::string pauses_signature() const;
    void prune_attempts(History& history) const;
    std::optional<MonotonicTime> cooldown_end() const;
    std::optional<MonotonicTime> budget_frees() const;  // when the oldest counted attempt leaves the window
    std::optional<MonotonicTime> circuit_close() const;
    // Closes an open circuit for `reason_code` unless, on the saved history, it is closed already
    // or was opened again since; says circuit_closed when this call closed it.
    void close_circuit(const std::string& reason_sentence, const std::string& reason_code);
    void after_save(const Result<Done>& saved);
    std::string serialize() const;

    RemediationConfig config_;
    Clock& clock_;
    StateStore& store_;
    EventSink& events_;

    History history_;
    std::optional<InFlight> busy_;
    bool unsaved_ = false;  // the last save failed: storage_failed said, tick() retries
    bool clamps_said_unsaved_ = false;  // times from the future said while they could not be saved
    RepairLock* host_lock_ = nullptr;
    bool close_on_time_ = false;
    std::unique_ptr<TimerHandle> circuit_timer_;
    std::unique_ptr<TimerHandle> pause_timer_;
    std::function<void()> change_listener_;
};

std::string_view to_string(RepairPolicy::Decision::Verdict verdict) noexcept;  // "cooldown", "circuit_open", ...

}  // namespace certheal
