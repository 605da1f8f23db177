#include "core/policy/repair_policy.hpp"

#include "core/base/bounded_input.hpp"
#include "core/base/duration.hpp"
#include "core/base/text.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/base/time_format.hpp"

namespace certheal {
namespace {

// Version 2 keeps each attempt's incident (attempts are merged by start time and incident),
// the time the circuit last closed and the last operator reset. Version 1 (attempts as bare
// times) is still read.
constexpr int kStateVersion = 2;
constexpr int kOldestStateVersion = 1;

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

// Far more attempts than any window holds: a longer list is not a state certheal wrote.
constexpr std::size_t kMaxSavedAttempts = 10000;
// Older than every window certheal can be configured with (durations are at most 100 years):
// a saved time further back only needs to count as "long ago", and is measured as this old so
// that the arithmetic on the monotonic clock cannot overflow.
constexpr auto kLongAgo = std::chrono::hours(24 * 365 * 150);

// Incident ids certheal writes are ~30 characters, user and site names short; a saved one
// longer than this is cut. A pause's reason gets more room.
constexpr std::size_t kMaxNameLength = 200;
constexpr std::size_t kMaxReasonLength = 500;
// One pause decision per scope (the host, each site): far more than any config has sites.
constexpr std::size_t kMaxSavedPauses = 10000;

std::string bounded_text(std::string text, std::size_t limit = kMaxNameLength) {
    if (text.size() > limit) text.resize(limit);
    return text;
}

std::string text_field(const nlohmann::json& object, const char* key, std::size_t limit) {
    const auto found = object.find(key);
    if (found == object.end() || !found->is_string()) return {};
    return bounded_text(found->get<std::string>(), limit);
}

TimePoint parse_time_field(const nlohmann::json& value, const char* what) {
    if (!value.is_string()) throw std::runtime_error(std::string(what) + " is not a time string");
    const auto parsed = parse_time_utc(value.get<std::string>());
    if (!parsed) throw std::runtime_error(std::string(what) + " is not a UTC time like 2026-11-24T22:31:05.123Z");
    return *parsed;
}

std::string incident_field(const nlohmann::json& object) {
    const auto found = object.find("incident");
    if (found == object.end() || !found->is_string()) return {};
    return bounded_text(found->get<std::string>());
}

}  // namespace

namespace {

std::string paused_sentence(const RepairPolicy::Pause& held, const std::string& incident, bool manual) {
    const std::string scope = held.site.empty() ? "on this host" : "of site " + held.site;
    const std::string until = held.until ? "until " + format_time_utc(*held.until) : "until certheal unpause";
    return "repairs " + scope + " are paused " + until + " (by " + held.by +
           (held.reason.empty() ? "" : ": " + held.reason) + "), so the repair of incident " + incident + " is held" +
           (held.until ? " until then" : "") + "." +
           (manual ? " Run certheal unpause first, or certheal repair --force to repair anyway." : "");
}

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
    const auto wall = clock_.now();
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
    if (moment.recorded <= clock_.now()) return moment.recorded;
    return std::chrono::floor<std::chrono::milliseconds>(wall_of(moment.measured));
}

TimePoint RepairPolicy::wall_of(MonotonicTime measured) const {
    return clock_.now() - std::chrono::duration_cast<TimePoint::duration>(clock_.monotonic_now() - measured);
}

// --- reading, merging, writing -----------------------------------------------------------------

RepairPolicy::History RepairPolicy::parse_saved_state(const std::string& text, Reading& reading) const {
    reading.wall_now = clock_.now();
    reading.monotonic_now = clock_.monotonic_now();
    History saved;
    auto parsed = parse_json_bounded(text);
    if (!parsed.value) throw std::runtime_error("it is not JSON: " + parsed.error);
    const auto& state = *parsed.value;
    if (!state.is_object()) throw std::runtime_error("the document is not a JSON object");
    // Compared as JSON: converting a version of 1e10 to int would be undefined.
    const auto version = state.find("version");
    if (version == state.end() || !version->is_number_integer() || *version < nlohmann::json(kOldestStateVersion) ||
        *version > nlohmann::json(kStateVersion)) {
        throw std::runtime_error("its version is not " + std::to_string(kOldestStateVersion) + " to " +
                                 std::to_string(kStateVersion));
    }
    const auto& attempts = state.at("attempts");
    if (!attempts.is_array()) throw std::runtime_error("attempts is not a list");
    if (attempts.size() > kMaxSavedAttempts) throw std::runtime_error("it lists too many attempts");
    for (const auto& attempt : attempts) {
        if (attempt.is_object()) {  // version 2
            const auto started = parse_time_field(attempt.at("started_at"), "an attempt");
            // An attempt keeps the start time it was first recorded with (its name); one that
            // was read from the future is counted from the time its reader saved instead.
            const auto counted_from = attempt.find("counted_from");
            const auto measured =
                counted_from != attempt.end() && !counted_from->is_null()
                    ? measured_from_saved(parse_time_field(*counted_from, "an attempt's counted_from"), reading)
                    : measured_from_saved(started, reading);
            saved.attempts.push_back({Moment{started, measured}, incident_field(attempt)});
        } else {  // version 1: the start time alone
            saved.attempts.push_back({moment_from_saved(parse_time_field(attempt, "an attempt"), reading), ""});
        }
    }
    if (const auto& end = state.at("last_repair_end"); !end.is_null()) {
        saved.last_repair_end = moment_from_saved(parse_time_field(end, "last_repair_end"), reading);
    }
    if (const auto& circuit = state.at("circuit"); !circuit.is_null()) {
        if (!circuit.is_object()) throw std::runtime_error("circuit is not an object");
        saved.circuit = CircuitDecision{
            true, moment_from_saved(parse_time_field(circuit.at("opened_at"), "circuit.opened_at"), reading),
            incident_field(circuit)};
    }
    // A closed circuit's last decision, written since version 2: it wins over an older opening.
    if (const auto found = state.find("circuit_closed_at"); found != state.end() && !found->is_null()) {
        const auto closed = moment_from_saved(parse_time_field(*found, "circuit_closed_at"), reading);
        if (!saved.circuit || saved.circuit->at.measured < closed.measured) {
            saved.circuit = CircuitDecision{false, closed, ""};
        }
    }
    if (const auto found = state.find("operator_reset_at"); found != state.end() && !found->is_null()) {
        saved.operator_reset = moment_from_saved(parse_time_field(*found, "operator_reset_at"), reading);
    }
    // Written since operator controls came; older states have none.
    if (const auto found = state.find("last_repair"); found != state.end() && !found->is_null()) {
        const auto& last = *found;
        if (!last.is_object()) throw std::runtime_error("last_repair is not an object");
        LastRepairRecord repair;
        repair.ended = moment_from_saved(parse_time_field(last.at("ended_at"), "last_repair.ended_at"), reading);
        repair.incident = incident_field(last);
        const auto& succeeded = last.value("succeeded", nlohmann::json(false));
        const auto& manual = last.value("manual", nlohmann::json(false));
        repair.succeeded = succeeded.is_boolean() && succeeded.get<bool>();
        repair.manual = manual.is_boolean() && manual.get<bool>();
        saved.last_repair = std::move(repair);
    }
    // Written since the maintenance pause came; older states have none.
    if (const auto found = state.find("pauses"); found != state.end() && !found->is_null()) {
        if (!found->is_array()) throw std::runtime_error("pauses is not a list");
        if (found->size() > kMaxSavedPauses) throw std::runtime_error("it lists too many pauses");
        const auto longest = nlohmann::json(kLongestDuration.count());
        for (const auto& entry : *found) {
            if (!entry.is_object()) throw std::runtime_error("a pause is not an object");
            std::string scope;
            if (const auto site = entry.find("site"); site != entry.end() && !site->is_null()) {
                if (!site->is_string()) throw std::runtime_error("a pause's site is not a string");
                scope = bounded_text(site->get<std::string>());
            }
            const auto& paused = entry.at("paused");
            if (!paused.is_boolean()) throw std::runtime_error("a pause's paused is not true or false");
            PauseDecision decision;
            decision.paused = paused.get<bool>();
            decision.at = moment_from_saved(parse_time_field(entry.at("at"), "a pause's at"), reading);
            if (const auto length = entry.find("length_ms"); length != entry.end() && !length->is_null()) {
                if (!length->is_number_integer() || *length <= nlohmann::json(0) || *length > longest) {
                    throw std::runtime_error("a pause's length_ms is not a number of milliseconds up to 100 years");
                }
                decision.length = Duration(length->get<Duration::rep>());
            }
            decision.by = text_field(entry, "by", kMaxNameLength);
            decision.reason = text_field(entry, "reason", kMaxReasonLength);
            saved.pauses[scope] = std::move(decision);  // the last one listed for a scope
        }
    }
    return saved;
}

// The merge rules of the header, on two histories measured on this process's clock. Where both
// sides hold the same record (same recorded time), this process's measurement is kept.
void RepairPolicy::merge_into(History& mine, History&& saved) {
    // Whether the saved moment is a later one than this process's: the same recorded time is
    // the same moment (this process's own, read back), whatever the wall clock did since.
    const auto saved_is_later = [](const Moment& mine_moment, const Moment& saved_moment) {
        return saved_moment.recorded != mine_moment.recorded && saved_moment.measured > mine_moment.measured;
    };
    const auto later = [&](const std::optional<Moment>& a, const std::optional<Moment>& b) {
        if (!a) return b;
        if (!b) return a;
        return saved_is_later(*a, *b) ? b : a;
    };
    mine.operator_reset = later(mine.operator_reset, saved.operator_reset);
    mine.last_repair_end = later(mine.last_repair_end, saved.last_repair_end);
    if (saved.last_repair && (!mine.last_repair || saved_is_later(mine.last_repair->ended, saved.last_repair->ended))) {
        mine.last_repair = std::move(saved.last_repair);
    }

    // Attempts: a union keyed by start time and incident. The same key may appear more than
    // once (a version 1 state has no incidents); the union holds it as often as the side that
    // holds it most often.
    using Key = std::pair<TimePoint, std::string>;
    std::map<Key, std::size_t> mine_count;
    for (const auto& attempt : mine.attempts) ++mine_count[{attempt.started.recorded, attempt.incident}];
    std::map<Key, std::size_t> saved_count;
    for (auto& attempt : saved.attempts) {
        const Key key{attempt.started.recorded, attempt.incident};
        if (++saved_count[key] > mine_count[key]) mine.attempts.push_back(std::move(attempt));
    }

    // The circuit: the latest decision wins; at the same moment a closing wins.
    const auto saved_wins = [](const CircuitDecision& mine_decision, const CircuitDecision& saved_decision) {
        if (saved_decision.open == mine_decision.open && saved_decision.at.recorded == mine_decision.at.recorded) {
            return false;  // the same decision
        }
        if (saved_decision.at.measured != mine_decision.at.measured) {
            return saved_decision.at.measured > mine_decision.at.measured;
        }
        return !saved_decision.open && mine_decision.open;
    };
    if (saved.circuit && (!mine.circuit || saved_wins(*mine.circuit, *saved.circuit))) mine.circuit = saved.circuit;

    // Pauses, per scope by the circuit's rule: the latest decision wins; at the same moment an
    // unpause wins.
    for (auto& [scope, saved_decision] : saved.pauses) {
        auto found = mine.pauses.find(scope);
        if (found == mine.pauses.end()) {
            mine.pauses.emplace(scope, std::move(saved_decision));
            continue;
        }
        const auto& mine_decision = found->second;
        if (saved_decision.paused == mine_decision.paused && saved_decision.at.recorded == mine_decision.at.recorded) {
            continue;  // the same decision
        }
        const bool saved_later = saved_decision.at.measured != mine_decision.at.measured
                                     ? saved_decision.at.measured > mine_decision.at.measured
                                     : !saved_decision.paused && mine_decision.paused;
        if (saved_later) found->second = std::move(saved_decision);
    }

    // An operator's reset wins over whatever was recorded before it.
    if (mine.operator_reset) {
        const auto reset = mine.operator_reset->measured;
        std::erase_if(mine.attempts, [reset](const Attempt& attempt) { return attempt.started.measured <= reset; });
        if (mine.circuit && mine.circuit->open && mine.circuit->at.measured <= reset) {
            mine.circuit = CircuitDecision{false, *mine.operator_reset, ""};
        }
    }
    std::stable_sort(mine.attempts.begin(), mine.attempts.end(),
                     [](const Attempt& a, const Attempt& b) { return a.started.measured < b.started.measured; });
}

std::string RepairPolicy::serialize() const {
    const auto time_text = [this](const Moment& moment) { return format_time_utc(saved_time(moment)); };
    nlohmann::json state = nlohmann::json::object();
    state["version"] = kStateVersion;
    auto attempts = nlohmann::json::array();
    for (const auto& attempt : history_.attempts) {
        nlohmann::json entry = {{"started_at", format_time_utc(attempt.started.recorded)}, {"incident", attempt.incident}};
        if (saved_time(attempt.started) != attempt.started.recorded) entry["counted_from"] = time_text(attempt.started);
        attempts.push_back(std::move(entry));
    }
    state["attempts"] = std::move(attempts);
    state["last_repair_end"] =
        history_.last_repair_end ? nlohmann::json(time_text(*history_.last_repair_end)) : nlohmann::json();
    const auto& circuit = history_.circuit;
    if (circuit && circuit->open) {
        state["circuit"] = {{"opened_at", time_text(circuit->at)}, {"incident", circuit->incident}};
        state["circuit_closed_at"] = nullptr;
    } else {
        state["circuit"] = nullptr;
        state["circuit_closed_at"] = circuit ? nlohmann::json(time_text(circuit->at)) : nlohmann::json();
    }
    state["operator_reset_at"] =
        history_.operator_reset ? nlohmann::json(time_text(*history_.operator_reset)) : nlohmann::json();
    if (const auto& last = history_.last_repair) {
        state["last_repair"] = {{"incident", last->incident},
                                {"ended_at", time_text(last->ended)},
                                {"succeeded", last->succeeded},
                                {"manual", last->manual}};
    }
    auto pauses = nlohmann::json::array();
    for (const auto& [scope, decision] : history_.pauses) {
        nlohmann::json entry = {{"site", scope.empty() ? nlohmann::json() : nlohmann::json(scope)},
                                {"paused", decision.paused},
                                {"at", time_text(decision.at)},
                                {"by", decision.by}};
        if (decision.paused) {
            // "until" is for people and `certheal status`; the end is measured from "at" and length_ms.
            const auto end = pause_end(decision);
            entry["length_ms"] = decision.length ? nlohmann::json(decision.length->count()) : nlohmann::json();
            entry["until"] = end ? nlohmann::json(format_time_utc(std::chrono::floor<std::chrono::milliseconds>(wall_of(*end))))
                                 : nlohmann::json();
            entry["reason"] = decision.reason;
        }
        pauses.push_back(std::move(entry));
    }
    state["pauses"] = std::move(pauses);
    return state.dump(2) + "\n";
}

void RepairPolicy::say_clamped(const Reading& reading) {
    if (reading.clamped == 0) return;
    Event event;
    event.id = EventId::repair_skipped;
    event.time = clock_.now();
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
        event.time = clock_.now();
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
    event.time = clock_.now();
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

// --- the circuit's own timer -------------------------------------------------------------------

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
    using Verdict = Decision::Verdict;
    refresh_from_store();
    tick();
    prune_attempts(history_);
    const auto now = clock_.monotonic_now();

    // remediation.enabled governs what certheal does by itself; an operator's repair is asked for.
    if (!config_.enabled && !manual) {
        return {Verdict::disabled, std::nullopt,
                "Remediation is disabled in the configuration (remediation.enabled), so certheal only reports this "
                "incident. Repair the site by hand."};
    }
    if (const auto held = pause_holding(site); held && !force) {
        return {Verdict::paused, held->until, paused_sentence(*held, incident, manual)};
    }
    if (busy_) {
        Decision running{Verdict::busy, std::nullopt,
                      "Another repair is still running on this host; certheal runs one repair at a time and considers "
                      "this incident again on its next probe."};
        running.details = {{"running_incident", busy_->incident}};
        return running;
    }
    if (circuit_open() && !force) {
        const auto opened_at = format_time_utc(*circuit_opened_at());
        const auto reset_at = wall_of(*circuit_close());
        Decision refused{Verdict::circuit_open, reset_at,
                      manual ? "The repair circuit breaker is open: the last repair the budget allowed failed. Find out "
                               "why, then run `certheal resume`, or `certheal repair --force` to repair anyway."
                             : "The repair circuit breaker is open, so certheal does not repair until it closes by "
                               "itself (retry_after) or you run `certheal resume` after checking the host."};
        refused.details = {{"opened_at", opened_at}, {"closes_at", format_time_utc(reset_at)}};
        return refused;
    }
    const auto cooldown = cooldown_end();
    if (static_cast<int>(history_.attempts.size()) >= config_.max_attempts && !force) {
        auto retry = budget_frees().value_or(now);
        if (cooldown) retry = std::max(retry, *cooldown);
        const auto retry_at = wall_of(retry);
        Decision spent{Verdict::budget_spent, retry_at,
                       "The repair budget of the attempt window is spent, so certheal repairs again only when an "
                       "attempt leaves the window (retry_after)."};
        spent.details = {{"attempts", history_.attempts.size()},
                         {"max_attempts", config_.max_attempts},
                         {"window", format_duration(config_.attempt_window)}};
        return spent;
    }
    if (cooldown && now < *cooldown && !manual) {
        const auto retry_at = wall_of(*cooldown);
        Decision cooling{Verdict::cooldown, retry_at,
                         "The previous repair ended within the cooldown, so certheal repairs this incident only after "
                         "the cooldown (retry_after)."};
        cooling.details = {{"cooldown", format_duration(config_.cooldown)}};
        return cooling;
    }

    bool holds_lock = false;
    if (host_lock_ != nullptr && !dry_run) {
        const auto taken = host_lock_->try_acquire();
        if (taken && !taken.value()) {
            return {Verdict::busy, std::nullopt,
                    "Another repair is running on this host (the service's or `certheal repair`); certheal runs one "
                    "repair at a time and considers this incident again on its next probe."};
        }
        // A lock that cannot be made (a folder planted at its name, a read-only or immutable
        // state folder) keeps nothing else from repairing at the same time: no repair then.
        if (!taken) {
            Decision no_lock{Verdict::lock_unavailable, std::nullopt,
                             "certheal cannot take its host-wide repair lock, so it does not repair (another repair "
                             "could run at the same time). Fix the lock file or the state folder (see error)."};
            no_lock.details = {{"error", taken.error().message}};
            return no_lock;
        }
        holds_lock = taken.value();
    }
    busy_ = InFlight{incident, dry_run, manual, holds_lock};
    if (dry_run) {
        return {Verdict::allowed, std::nullopt,
                "Dry run: certheal would repair now; nothing is changed and the attempt does not count against the "
                "repair budget."};
    }
    const auto started = moment_now();
    commit([&](History& history) {
        history.attempts.push_back({started, incident});
        prune_attempts(history);
    });
    return {Verdict::allowed, std::nullopt,
            "certheal is starting the " + ordinal(static_cast<int>(history_.attempts.size())) + " of at most " +
                std::to_string(config_.max_attempts) + " repairs allowed within " +
                format_duration(config_.attempt_window) + " for incident " + incident + "."};
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
    event.time = clock_.now();
    event.incident = incident;
    // What to do and when it ends by itself; the counts and the window are fields.
    event.message = "Repairs stopped: the last repair the budget allows failed. Check " + config_.web_server +
                    " and its client-certificate trust, then run `certheal resume`; otherwise repairs resume at " +
                    format_time_utc(reset_at) + ".";
    event.details = {
        {"attempts", attempts},
        {"max_attempts", config_.max_attempts},
        {"window", format_duration(config_.attempt_window)},
        {"reset_after", format_duration(config_.circuit_reset_after)},
        {"reset_at", format_time_utc(reset_at)},
    };
    events_.emit(event);
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

// --- the maintenance pause ---------------------------------------------------------------------

std::optional<MonotonicTime> RepairPolicy::pause_end(const PauseDecision& decision) {
    if (!decision.paused || !decision.length) return std::nullopt;
    return decision.at.measured + *decision.length;
}

bool RepairPolicy::pause_in_force(const PauseDecision& decision) const {
    if (!decision.paused) return false;
    const auto end = pause_end(decision);
    return !end || clock_.monotonic_now() < *end;
}

RepairPolicy::Pause RepairPolicy::pause_view(const std::string& site, const PauseDecision& decision) const {
    Pause view;
    view.site = site;
    view.since = wall_of(decision.at.measured);
    if (const auto end = pause_end(decision)) view.until = std::chrono::floor<std::chrono::milliseconds>(wall_of(*end));
    view.length = decision.length;
    view.by = decision.by;
    view.reason = decision.reason;
    return view;
}

std::optional<RepairPolicy::Pause> RepairPolicy::pause_holding(const std::string& site) const {
    if (const auto host = history_.pauses.find(""); host != history_.pauses.end() && pause_in_force(host->second)) {
        return pause_view("", host->second);
    }
    if (site.empty()) return std::nullopt;
    if (const auto own = history_.pauses.find(site); own != history_.pauses.end() && pause_in_force(own->second)) {
        return pause_view(site, own->second);
    }
    return std::nullopt;
}

std::vector<RepairPolicy::Pause> RepairPolicy::pauses() const {
    std::vector<Pause> in_force;
    for (const auto& [scope, decision] : history_.pauses) {  // "" sorts first: the host's
        if (pause_in_force(decision)) in_force.push_back(pause_view(scope, decision));
    }
    return in_force;
}

std::string RepairPolicy::pauses_signature() const {
    std::string signature;
    for (const auto& [scope, decision] : history_.pauses) {
        signature += scope + (decision.paused ? "+" : "-") + format_time_utc(decision.at.recorded) + ";";
    }
    return signature;
}

RepairPolicy::Pause RepairPolicy::pause(const std::string& site, std::optional<Duration> length, const std::string& by,
                                        const std::string& reason) {
    const PauseDecision decision{true, moment_now(), length, bounded_text(by),
                                 bounded_text(reason, kMaxReasonLength)};
    commit([&](History& history) { history.pauses[site] = decision; });
    auto view = pause_view(site, decision);
    const std::string scope = site.empty() ? "on this host" : "of site " + site;
    const std::string until = view.until ? "until " + format_time_utc(*view.until) : "until certheal unpause";
    Event event;
    event.id = EventId::paused;
    event.time = clock_.now();
    event.site = site;
    event.message = view.by + " paused repairs " + scope + " " + until +
                    (view.reason.empty() ? "" : " (" + view.reason + ")") +
                    ". Probes go on; a confirmed symptom is recorded, not repaired." +
                    (view.until ? " certheal unpause ends it sooner." : "");
    event.details = {{"scope", site.empty() ? "host" : "site"},
                     {"by", view.by},
                     {"until", view.until ? nlohmann::json(format_time_utc(*view.until)) : nlohmann::json()},
                     {"for", length ? nlohmann::json(format_duration(*length)) : nlohmann::json()},
                     {"reason", view.reason}};
    events_.emit(event);
    return view;
}

int RepairPolicy::unpause(const std::string& site, const std::string& by) {
    const auto now = moment_now();
    std::vector<Pause> ended;
    commit([&](History& history) {
        ended.clear();
        for (auto& [scope, decision] : history.pauses) {
            if (!site.empty() && scope != site) continue;
            if (!pause_in_force(decision)) continue;
            ended.push_back(pause_view(scope, decision));
            decision = PauseDecision{false, now, std::nullopt, bounded_text(by), ""};
        }
    });
    for (const auto& pause : ended) say_unpaused(pause, by, /*by_itself=*/false, /*while_stopped=*/false);
    return static_cast<int>(ended.size());
}

void RepairPolicy::refresh() {
    refresh_from_store();
    end_due_pauses(/*while_stopped=*/false);
    arm_pause_timer();
}

void RepairPolicy::end_due_pauses(bool while_stopped) {
    const auto due = [](const PauseDecision& decision, MonotonicTime at) {
        const auto end = pause_end(decision);
        return end && at >= *end;
    };
    const auto now = moment_now();
    if (std::none_of(history_.pauses.begin(), history_.pauses.end(),
                     [&](const auto& entry) { return due(entry.second, now.measured); })) {
        return;
    }
    std::vector<Pause> ended;
    // On the merged history: another process may have ended or renewed the pause meanwhile.
    commit([&](History& history) {
        ended.clear();
        for (auto& [scope, decision] : history.pauses) {
            if (!due(decision, now.measured)) continue;
            ended.push_back(pause_view(scope, decision));
            decision = PauseDecision{false, now, std::nullopt, "", ""};
        }
    });
    for (const auto& pause : ended) say_unpaused(pause, "", /*by_itself=*/true, while_stopped);
}

void RepairPolicy::say_unpaused(const Pause& ended, const std::string& by, bool by_itself, bool while_stopped) {
    const std::string scope = ended.site.empty() ? "on this host" : "of site " + ended.site;
    Event event;
    event.id = EventId::unpaused;
    event.time = clock_.now();
    event.site = ended.site;
    event.message = by_itself ? "The pause of repairs " + scope + " ended by itself at " +
                                    format_time_utc(ended.until.value_or(clock_.now())) +
                                    (while_stopped ? " while certheal was not running" : "") +
                                    "; a confirmed symptom is repaired again."
                              : bounded_text(by) + " ended the pause of repairs " + scope +
                                    "; a confirmed symptom is repaired again.";
    event.details = {{"scope", ended.site.empty() ? "host" : "site"},
                     {"by", by_itself ? std::string("by itself") : bounded_text(by)},
                     {"paused_by", ended.by},
                     {"since", format_time_utc(ended.since)},
                     {"until", ended.until ? nlohmann::json(format_time_utc(*ended.until)) : nlohmann::json()},
                     {"reason", ended.reason}};
    events_.emit(event);
}

void RepairPolicy::arm_pause_timer() {
    std::optional<MonotonicTime> next;
    if (close_on_time_) {
        for (const auto& [scope, decision] : history_.pauses) {
            const auto end = pause_end(decision);
            if (end && (!next || *end < *next)) next = end;
        }
    }
    if (!next) {
        pause_timer_.reset();
        return;
    }
    // Rounded up, like the circuit's: never a moment before the pause's end.
    const auto left = std::chrono::ceil<Duration>(*next - clock_.monotonic_now());
    pause_timer_ = clock_.after(std::max(Duration::zero(), left), [this] { tick(); });
}

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
    event.time = clock_.now();
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
    event.time = clock_.now();
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
