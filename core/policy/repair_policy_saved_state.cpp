#include "core/policy/repair_policy.hpp"

#include "core/base/bounded_input.hpp"
#include "core/base/duration.hpp"
#include "core/base/time_format.hpp"
#include "core/policy/repair_history_limits.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

// state.json: the repair history read from it, merged with the one in memory, written to it.

namespace certheal {
namespace {

using repair_history::bounded_text;
using repair_history::kMaxNameLength;
using repair_history::kMaxReasonLength;

// Version 2 keeps each attempt's incident (attempts are merged by start time and incident),
// the time the circuit last closed and the last operator reset. Version 1 (attempts as bare
// times) is still read.
constexpr int kStateVersion = 2;
constexpr int kOldestStateVersion = 1;

// Far more attempts than any window holds: a longer list is not a state certheal wrote.
constexpr std::size_t kMaxSavedAttempts = 10000;
// One pause decision per scope (the host, each site): far more than any config has sites.
constexpr std::size_t kMaxSavedPauses = 10000;

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

// Compared as JSON: converting a version of 1e10 to int would be undefined.
void check_state_version(const nlohmann::json& state) {
    const auto version = state.find("version");
    if (version == state.end() || !version->is_number_integer() || *version < nlohmann::json(kOldestStateVersion) ||
        *version > nlohmann::json(kStateVersion)) {
        throw std::runtime_error("its version is not " + std::to_string(kOldestStateVersion) + " to " +
                                 std::to_string(kStateVersion));
    }
}

}  // namespace

// --- reading ---------------------------------------------------------------------------------

RepairPolicy::History RepairPolicy::parse_saved_state(const std::string& text, Reading& reading) const {
    reading.wall_now = clock_.wall_now();
    reading.monotonic_now = clock_.monotonic_now();
    auto parsed = parse_json_bounded(text);
    if (!parsed.value) throw std::runtime_error("it is not JSON: " + parsed.error);
    const auto& state = *parsed.value;
    if (!state.is_object()) throw std::runtime_error("the document is not a JSON object");
    check_state_version(state);
    History saved;
    saved.attempts = read_attempts(state.at("attempts"), reading);
    if (const auto& end = state.at("last_repair_end"); !end.is_null()) {
        saved.last_repair_end = moment_from_saved(parse_time_field(end, "last_repair_end"), reading);
    }
    saved.circuit = read_circuit(state, reading);
    if (const auto found = state.find("operator_reset_at"); found != state.end() && !found->is_null()) {
        saved.operator_reset = moment_from_saved(parse_time_field(*found, "operator_reset_at"), reading);
    }
    saved.last_repair = read_last_repair(state, reading);
    saved.pauses = read_pauses(state, reading);
    return saved;
}

std::vector<RepairPolicy::Attempt> RepairPolicy::read_attempts(const nlohmann::json& attempts,
                                                               Reading& reading) const {
    if (!attempts.is_array()) throw std::runtime_error("attempts is not a list");
    if (attempts.size() > kMaxSavedAttempts) throw std::runtime_error("it lists too many attempts");
    std::vector<Attempt> read;
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
            read.push_back({Moment{started, measured}, incident_field(attempt)});
        } else {  // version 1: the start time alone
            read.push_back({moment_from_saved(parse_time_field(attempt, "an attempt"), reading), ""});
        }
    }
    return read;
}

std::optional<RepairPolicy::CircuitDecision> RepairPolicy::read_circuit(const nlohmann::json& state,
                                                                        Reading& reading) const {
    std::optional<CircuitDecision> circuit;
    if (const auto& opened = state.at("circuit"); !opened.is_null()) {
        if (!opened.is_object()) throw std::runtime_error("circuit is not an object");
        circuit = CircuitDecision{
            true, moment_from_saved(parse_time_field(opened.at("opened_at"), "circuit.opened_at"), reading),
            incident_field(opened)};
    }
    // A closed circuit's last decision, written since version 2: it wins over an older opening.
    if (const auto found = state.find("circuit_closed_at"); found != state.end() && !found->is_null()) {
        const auto closed = moment_from_saved(parse_time_field(*found, "circuit_closed_at"), reading);
        if (!circuit || circuit->at.measured < closed.measured) {
            circuit = CircuitDecision{false, closed, ""};
        }
    }
    return circuit;
}

// Written since operator controls came; older states have none.
std::optional<RepairPolicy::LastRepairRecord> RepairPolicy::read_last_repair(const nlohmann::json& state,
                                                                             Reading& reading) const {
    const auto found = state.find("last_repair");
    if (found == state.end() || found->is_null()) return std::nullopt;
    const auto& last = *found;
    if (!last.is_object()) throw std::runtime_error("last_repair is not an object");
    LastRepairRecord repair;
    repair.ended = moment_from_saved(parse_time_field(last.at("ended_at"), "last_repair.ended_at"), reading);
    repair.incident = incident_field(last);
    const auto& succeeded = last.value("succeeded", nlohmann::json(false));
    const auto& manual = last.value("manual", nlohmann::json(false));
    repair.succeeded = succeeded.is_boolean() && succeeded.get<bool>();
    repair.manual = manual.is_boolean() && manual.get<bool>();
    return repair;
}

// Written since the maintenance pause came; older states have none.
std::map<std::string, RepairPolicy::PauseDecision> RepairPolicy::read_pauses(const nlohmann::json& state,
                                                                             Reading& reading) const {
    std::map<std::string, PauseDecision> pauses;
    const auto found = state.find("pauses");
    if (found == state.end() || found->is_null()) return pauses;
    if (!found->is_array()) throw std::runtime_error("pauses is not a list");
    if (found->size() > kMaxSavedPauses) throw std::runtime_error("it lists too many pauses");
    for (const auto& entry : *found) {
        if (!entry.is_object()) throw std::runtime_error("a pause is not an object");
        std::string scope;
        if (const auto site = entry.find("site"); site != entry.end() && !site->is_null()) {
            if (!site->is_string()) throw std::runtime_error("a pause's site is not a string");
            scope = bounded_text(site->get<std::string>());
        }
        pauses[scope] = read_pause(entry, reading);  // the last one listed for a scope
    }
    return pauses;
}

RepairPolicy::PauseDecision RepairPolicy::read_pause(const nlohmann::json& entry, Reading& reading) const {
    const auto longest = nlohmann::json(kLongestDuration.count());
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
    return decision;
}

// --- merging -----------------------------------------------------------------------------------

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

// --- writing ---------------------------------------------------------------------------------

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

}  // namespace certheal
