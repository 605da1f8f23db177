#include "core/policy/repair_policy.hpp"

#include "core/base/bounded_input.hpp"
#include "core/base/text.hpp"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/base/time_format.hpp"

namespace certheal {
namespace {

constexpr int kStateVersion = 1;

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

// A time the state can truly hold: one certheal wrote, so not much later than now. A time far
// in the future would keep the budget spent or the circuit open for years.
constexpr auto kClockSkewAllowed = std::chrono::hours(24);
// Far more attempts than any window holds: a longer list is not a state certheal wrote.
constexpr std::size_t kMaxSavedAttempts = 10000;
// Incident ids certheal writes are ~30 characters; a saved one longer than this is cut.
std::string bounded_text(std::string text) {
    constexpr std::size_t kMaxIncidentLength = 200;
    if (text.size() > kMaxIncidentLength) text.resize(kMaxIncidentLength);
    return text;
}

TimePoint parse_time_field(const nlohmann::json& value, const char* what, TimePoint now) {
    if (!value.is_string()) throw std::runtime_error(std::string(what) + " is not a time string");
    const auto parsed = parse_time_utc(value.get<std::string>());
    if (!parsed) throw std::runtime_error(std::string(what) + " is not a UTC time like 2026-11-24T22:31:05.123Z");
    if (*parsed > now + kClockSkewAllowed) {
        throw std::runtime_error(std::string(what) + " lies in the future (" + value.get<std::string>() + ")");
    }
    return *parsed;
}

}  // namespace

std::string_view to_string(RepairPolicy::Decision::Verdict verdict) noexcept {
    using Verdict = RepairPolicy::Decision::Verdict;
    switch (verdict) {
        case Verdict::allowed: return "allowed";
        case Verdict::disabled: return "disabled";
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

RepairPolicy::SavedState RepairPolicy::parse_saved_state(const std::string& text, TimePoint now) {
    SavedState saved;
    auto parsed = parse_json_bounded(text);
    if (!parsed.value) throw std::runtime_error("it is not JSON: " + parsed.error);
    const auto& state = *parsed.value;
    if (!state.is_object()) throw std::runtime_error("the document is not a JSON object");
    // Compared as JSON: converting a version of 1e10 to int would be undefined.
    if (!state.contains("version") || state.at("version") != nlohmann::json(kStateVersion)) {
        throw std::runtime_error("its version is not " + std::to_string(kStateVersion));
    }
    const auto& attempts = state.at("attempts");
    if (!attempts.is_array()) throw std::runtime_error("attempts is not a list");
    if (attempts.size() > kMaxSavedAttempts) throw std::runtime_error("it lists too many attempts");
    for (const auto& attempt : attempts) saved.attempts.push_back(parse_time_field(attempt, "an attempt", now));
    std::sort(saved.attempts.begin(), saved.attempts.end());
    if (const auto& end = state.at("last_repair_end"); !end.is_null()) {
        saved.last_repair_end = parse_time_field(end, "last_repair_end", now);
    }
    if (const auto& circuit = state.at("circuit"); !circuit.is_null()) {
        if (!circuit.is_object()) throw std::runtime_error("circuit is not an object");
        saved.circuit_opened_at = parse_time_field(circuit.at("opened_at"), "circuit.opened_at", now);
        const auto& incident = circuit.value("incident", nlohmann::json(""));
        saved.circuit_incident = incident.is_string() ? bounded_text(incident.get<std::string>()) : "";
    }
    // Written since operator controls came; older states have none.
    if (const auto found = state.find("last_repair"); found != state.end() && !found->is_null()) {
        const auto& last = *found;
        if (!last.is_object()) throw std::runtime_error("last_repair is not an object");
        LastRepair repair;
        repair.ended_at = parse_time_field(last.at("ended_at"), "last_repair.ended_at", now);
        const auto& incident = last.value("incident", nlohmann::json(""));
        repair.incident = incident.is_string() ? bounded_text(incident.get<std::string>()) : "";
        const auto& succeeded = last.value("succeeded", nlohmann::json(false));
        const auto& manual = last.value("manual", nlohmann::json(false));
        repair.succeeded = succeeded.is_boolean() && succeeded.get<bool>();
        repair.manual = manual.is_boolean() && manual.get<bool>();
        saved.last_repair = std::move(repair);
    }
    return saved;
}

void RepairPolicy::adopt(SavedState&& saved) {
    attempts_ = std::move(saved.attempts);
    last_repair_end_ = saved.last_repair_end;
    circuit_opened_at_ = saved.circuit_opened_at;
    circuit_incident_ = std::move(saved.circuit_incident);
    last_repair_ = std::move(saved.last_repair);
}

std::optional<std::string> RepairPolicy::load() {
    adopt(SavedState{});
    std::optional<std::string> problem;
    auto loaded = store_.load();
    if (!loaded) {
        problem = loaded.error().message;
    } else if (loaded.value()) {
        try {
            adopt(parse_saved_state(*loaded.value(), clock_.now()));
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
        persist();
    }

    if (circuit_opened_at_) {
        const auto now = clock_.now();
        if (now >= *circuit_opened_at_ + config_.circuit_reset_after) {
            close_circuit("The repair circuit breaker closed because " +
                              format_duration(config_.circuit_reset_after) +
                              " passed since it opened while certheal was not running; certheal may repair again.",
                          "quiet_period");
        } else if (!attempts_.empty() && now >= attempts_.back() + config_.attempt_window) {
            close_circuit("The repair circuit breaker closed because the whole attempt window of " +
                              format_duration(config_.attempt_window) +
                              " passed since the last repair attempt while certheal was not running; certheal may "
                              "repair again.",
                          "attempt_window_passed");
        }
    }
    arm_circuit_timer();
    return warning;
}

void RepairPolicy::refresh_from_store() {
    // The other repairer on the host (the service, or `certheal repair`) may have written the
    // history since: decide on what is saved. Not while this one's own state is unsaved (the
    // file is older than memory then) or a repair of its own runs; and a file that cannot be
    // read now leaves the history in memory as it is (load() said so at start).
    if (unsaved_ || busy_) return;
    auto loaded = store_.load();
    if (!loaded || !loaded.value()) return;
    try {
        adopt(parse_saved_state(*loaded.value(), clock_.now()));
    } catch (const std::exception&) {
        return;
    }
    arm_circuit_timer();
}

void RepairPolicy::close_circuit_on_time() {
    close_on_time_ = true;
    arm_circuit_timer();
}

void RepairPolicy::arm_circuit_timer() {
    if (!close_on_time_ || !circuit_opened_at_) {
        circuit_timer_.reset();
        return;
    }
    // Rounded up, so the timer never fires a moment before the quiet period has passed.
    const auto left = std::chrono::ceil<Duration>(*circuit_opened_at_ + config_.circuit_reset_after - clock_.now());
    const auto delay = std::max(Duration::zero(), left);
    circuit_timer_ = clock_.after(delay, [this] { tick(); });
}

std::optional<TimePoint> RepairPolicy::circuit_closes_at() const {
    if (!circuit_opened_at_) return std::nullopt;
    return *circuit_opened_at_ + config_.circuit_reset_after;
}

RepairPolicy::Decision RepairPolicy::request(const std::string& incident, bool dry_run) {
    return decide(incident, dry_run, /*manual=*/false, /*force=*/false);
}

RepairPolicy::Decision RepairPolicy::request_manual(const std::string& incident, bool dry_run, bool force) {
    return decide(incident, dry_run, /*manual=*/true, force);
}

RepairPolicy::Decision RepairPolicy::decide(const std::string& incident, bool dry_run, bool manual, bool force) {
    using Verdict = Decision::Verdict;
    refresh_from_store();
    tick();
    prune_attempts();
    const auto now = clock_.now();

    // remediation.enabled governs what certheal does by itself; an operator's repair is asked for.
    if (!config_.enabled && !manual) {
        return {Verdict::disabled, std::nullopt,
                "Remediation is disabled in the configuration, so certheal only reports incident " + incident + "."};
    }
    if (busy_) {
        return {Verdict::busy, std::nullopt,
                "A repair for incident " + busy_->incident +
                    " is still running on this host; certheal runs one repair at a time, so it does not start "
                    "another for incident " +
                    incident + "."};
    }
    if (circuit_opened_at_ && !force) {
        const auto reset_at = *circuit_opened_at_ + config_.circuit_reset_after;
        if (manual) {
            return {Verdict::circuit_open, reset_at,
                    "The repair circuit breaker has been open since " + format_time_utc(*circuit_opened_at_) +
                        " because the repair budget was spent and the last repair failed. Find out why the "
                        "repairs failed first; then run certheal resume, or certheal repair --force to repair anyway."};
        }
        return {Verdict::circuit_open, reset_at,
                "The repair circuit breaker has been open since " + format_time_utc(*circuit_opened_at_) +
                    " because the repair budget was spent and the last repair failed; certheal will not repair "
                    "incident " +
                    incident + " before " + format_time_utc(reset_at) +
                    " unless an operator resets it. Check the host by hand."};
    }
    const auto cooldown_end = cooldown_ends_at();
    if (static_cast<int>(attempts_.size()) >= config_.max_attempts && !force) {
        auto retry = budget_frees_at().value_or(now);
        if (cooldown_end) retry = std::max(retry, *cooldown_end);
        return {Verdict::budget_spent, retry,
                "certheal already started " + std::to_string(attempts_.size()) + " repairs within the last " +
                    format_duration(config_.attempt_window) + " (the most allowed), so it will not repair incident " +
                    incident + " before " + format_time_utc(retry) + "."};
    }
    if (cooldown_end && now < *cooldown_end && !manual) {
        return {Verdict::cooldown, *cooldown_end,
                "The previous repair was less than the cooldown of " + format_duration(config_.cooldown) +
                    " ago, so certheal will not repair incident " + incident + " before " +
                    format_time_utc(*cooldown_end) + "."};
    }

    bool holds_lock = false;
    if (host_lock_ != nullptr && !dry_run) {
        const auto taken = host_lock_->try_acquire();
        if (taken && !taken.value()) {
            return {Verdict::busy, std::nullopt,
                    "Another repair is running on this host (the certheal service's, or certheal repair from a "
                    "command line); certheal runs one repair at a time, so it does not start one for incident " +
                        incident + " now."};
        }
        // A lock that cannot be made (a folder planted at its name, a read-only or immutable
        // state folder) keeps nothing else from repairing at the same time: no repair then.
        if (!taken) {
            return {Verdict::lock_unavailable, std::nullopt,
                    as_clause(taken.error().message) + ". Without its host-wide repair lock certheal cannot be sure that "
                    "no other repair runs at the same time, so it does not repair incident " + incident +
                    "; fix the lock file or the state folder."};
        }
        holds_lock = taken.value();
    }
    busy_ = InFlight{incident, dry_run, manual, holds_lock};
    if (dry_run) {
        return {Verdict::allowed, std::nullopt,
                "Dry run: certheal would repair incident " + incident +
                    " now; nothing is changed and the attempt does not count against the repair budget."};
    }
    attempts_.push_back(now);
    persist();
    return {Verdict::allowed, std::nullopt,
            "certheal is starting the " + ordinal(static_cast<int>(attempts_.size())) + " of at most " +
                std::to_string(config_.max_attempts) + " repairs allowed within " +
                format_duration(config_.attempt_window) + " for incident " + incident + "."};
}

void RepairPolicy::finished(const std::string& incident, bool succeeded) {
    if (!busy_) return;  // nothing in flight: a stray call changes nothing
    const auto in_flight = *busy_;
    busy_.reset();
    if (in_flight.holds_lock && host_lock_ != nullptr) host_lock_->release();
    if (in_flight.dry_run) return;

    last_repair_end_ = clock_.now();
    last_repair_ = LastRepair{incident, clock_.now(), succeeded, in_flight.manual};
    prune_attempts();
    const int attempts = static_cast<int>(attempts_.size());
    if (!succeeded && attempts >= config_.max_attempts && !circuit_opened_at_) {
        circuit_opened_at_ = clock_.now();
        circuit_incident_ = incident;
        const auto reset_at = *circuit_opened_at_ + config_.circuit_reset_after;
        Event event;
        event.id = EventId::circuit_opened;
        event.time = clock_.now();
        event.incident = incident;
        event.message = "The repair for incident " + incident + " failed and was the " + ordinal(attempts) +
                        " repair within " + format_duration(config_.attempt_window) +
                        " (the most allowed), so certheal stopped repairing: the circuit breaker is open until " +
                        format_time_utc(reset_at) +
                        " or until an operator resets it, and certheal only probes and reports meanwhile. Check "
                        "IIS and the client-certificate trust on this host by hand.";
        event.details = {
            {"attempts", attempts},
            {"max_attempts", config_.max_attempts},
            {"window", format_duration(config_.attempt_window)},
            {"reset_after", format_duration(config_.circuit_reset_after)},
            {"reset_at", format_time_utc(reset_at)},
        };
        events_.emit(event);
        arm_circuit_timer();
    }
    persist();
}

void RepairPolicy::tick() {
    if (unsaved_) persist();  // the state folder may be writable again
    if (circuit_opened_at_ && clock_.now() >= *circuit_opened_at_ + config_.circuit_reset_after) {
        close_circuit("The repair circuit breaker closed because " + format_duration(config_.circuit_reset_after) +
                          " passed since it opened; certheal may repair again.",
                      "quiet_period");
    }
}

bool RepairPolicy::reset_circuit(const std::string& reason) {
    if (busy_) return false;
    refresh_from_store();
    // An operator who resets the breaker has looked at the host and wants repairs back:
    // the old attempts would otherwise keep the budget spent.
    attempts_.clear();
    std::string sentence = circuit_opened_at_ ? "An operator reset the repair circuit breaker"
                                              : "An operator cleared the repair budget (the circuit breaker was "
                                                "already closed)";
    if (!reason.empty()) sentence += " (" + reason + ")";
    sentence += "; certheal may repair again and its repair budget starts afresh.";
    close_circuit(sentence, "operator");
    return true;
}

void RepairPolicy::close_circuit(const std::string& reason_sentence, const std::string& reason_code) {
    Event event;
    event.id = EventId::circuit_closed;
    event.time = clock_.now();
    event.incident = circuit_incident_;
    event.message = reason_sentence;
    event.details = {{"reason", reason_code}};
    if (circuit_opened_at_) event.details["opened_at"] = format_time_utc(*circuit_opened_at_);
    circuit_opened_at_.reset();
    circuit_incident_.clear();
    circuit_timer_.reset();
    persist();
    events_.emit(event);
}

int RepairPolicy::attempts_in_window() const {
    const auto window_start = clock_.now() - config_.attempt_window;
    return static_cast<int>(std::count_if(attempts_.begin(), attempts_.end(),
                                          [window_start](TimePoint start) { return start > window_start; }));
}

TimePoint RepairPolicy::next_allowed() const {
    auto next = clock_.now();
    if (const auto cooldown_end = cooldown_ends_at()) next = std::max(next, *cooldown_end);
    if (attempts_in_window() >= config_.max_attempts) {
        if (const auto frees = budget_frees_at()) next = std::max(next, *frees);
    }
    if (circuit_opened_at_) next = std::max(next, *circuit_opened_at_ + config_.circuit_reset_after);
    return next;
}

void RepairPolicy::prune_attempts() {
    const auto window_start = clock_.now() - config_.attempt_window;
    while (!attempts_.empty() && attempts_.front() <= window_start) attempts_.pop_front();
}

std::optional<TimePoint> RepairPolicy::budget_frees_at() const {
    // With max_attempts counted attempts, the (count - max + 1)th oldest must leave the window.
    const auto window_start = clock_.now() - config_.attempt_window;
    std::vector<TimePoint> counted;
    for (const auto start : attempts_) {
        if (start > window_start) counted.push_back(start);
    }
    if (counted.empty() || static_cast<int>(counted.size()) < config_.max_attempts) return std::nullopt;
    const auto index = counted.size() - static_cast<std::size_t>(std::max(config_.max_attempts, 1));
    return counted[index] + config_.attempt_window;
}

std::optional<TimePoint> RepairPolicy::cooldown_ends_at() const {
    // Measured from the later of the last repair's end and the last attempt's start: if
    // certheal died during a repair, the end was never recorded and the start still holds.
    std::optional<TimePoint> last = last_repair_end_;
    if (!attempts_.empty() && (!last || attempts_.back() > *last)) last = attempts_.back();
    if (!last) return std::nullopt;
    return *last + config_.cooldown;
}

std::string RepairPolicy::serialize() const {
    nlohmann::json state = nlohmann::json::object();
    state["version"] = kStateVersion;
    auto attempts = nlohmann::json::array();
    for (const auto start : attempts_) attempts.push_back(format_time_utc(start));
    state["attempts"] = std::move(attempts);
    state["last_repair_end"] = last_repair_end_ ? nlohmann::json(format_time_utc(*last_repair_end_)) : nlohmann::json();
    if (circuit_opened_at_) {
        state["circuit"] = {{"opened_at", format_time_utc(*circuit_opened_at_)}, {"incident", circuit_incident_}};
    } else {
        state["circuit"] = nullptr;
    }
    if (last_repair_) {
        state["last_repair"] = {{"incident", last_repair_->incident},
                                {"ended_at", format_time_utc(last_repair_->ended_at)},
                                {"succeeded", last_repair_->succeeded},
                                {"manual", last_repair_->manual}};
    }
    return state.dump(2) + "\n";
}

void RepairPolicy::persist() {
    auto saved = store_.save(serialize());
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

}  // namespace certheal
