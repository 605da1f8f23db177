#include "core/policy/repair_policy.hpp"

#include "core/base/duration.hpp"
#include "core/base/time_format.hpp"
#include "core/policy/repair_history_limits.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace certheal {

using repair_history::bounded_text;
using repair_history::kMaxReasonLength;

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
    event.time = clock_.wall_now();
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
    event.time = clock_.wall_now();
    event.site = ended.site;
    event.message = by_itself ? "The pause of repairs " + scope + " ended by itself at " +
                                    format_time_utc(ended.until.value_or(clock_.wall_now())) +
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

}  // namespace certheal
