#include "core/record/status_report.hpp"

#include "core/record/status_server.hpp"

#include "core/base/text.hpp"
#include "core/base/time_format.hpp"

#include <algorithm>

namespace certheal {
namespace {

nlohmann::json time_or_null(const std::optional<TimePoint>& time) {
    return time ? nlohmann::json(format_time_utc(*time)) : nlohmann::json(nullptr);
}

}  // namespace

namespace {

nlohmann::json site_document(const SiteStatus& site) {
        const auto& last = site.last_result;
        return nlohmann::json{
            {"name", site.name},
            {"class", last ? nlohmann::json(std::string(to_string(last->probe_class))) : nlohmann::json(nullptr)},
            {"since", time_or_null(site.class_since)},
            {"symptom_confirmed", site.symptom_confirmed},
            {"incident", site.incident.empty() ? nlohmann::json(nullptr) : nlohmann::json(site.incident)},
            {"last_probe", time_or_null(site.last_probe_at)},
            {"next_probe", time_or_null(site.next_probe_at)},
            {"client_cert_not_after", time_or_null(site.client_cert_not_after)},
            {"server_cert_not_after", time_or_null(last ? last->server_cert_not_after : std::nullopt)},
            {"probes", site.probes},
            {"failed_probes", site.failed_probes},
            {"evidence", last ? probe_evidence(*last) : nlohmann::json(nullptr)},
            {"cause", site.cause ? nlohmann::json(std::string(to_string(*site.cause))) : nlohmann::json(nullptr)},
            {"pause", site.pause ? pause_document(*site.pause) : nlohmann::json(nullptr)},
        };
}

// Everything but the sites.
nlohmann::json head_document(const MonitorStatus& status, long long pid) {
    nlohmann::json last_repair = nullptr;
    if (status.last_repair) {
        last_repair = {{"incident", status.last_repair->incident},
                       {"ended_at", format_time_utc(status.last_repair->ended_at)},
                       {"succeeded", status.last_repair->succeeded},
                       {"manual", status.last_repair->manual}};
    }
    return {
        {"version", kStatusVersion},
        {"generated_at", format_time_utc(status.generated_at)},
        {"pid", pid},
        {"remediation", remediation_document(status.remediation_enabled, status.dry_run, status.host_pause)},
        {"policy",
         {{"repair_running", status.repair_running},
          {"repair_incident", status.repair_running ? nlohmann::json(status.repair_incident) : nlohmann::json(nullptr)},
          {"circuit_open", status.circuit_open},
          {"circuit_opened_at", time_or_null(status.circuit_opened_at)},
          {"circuit_closes_at", time_or_null(status.circuit_closes_at)},
          {"attempts_in_window", status.attempts_in_window},
          {"max_attempts", status.max_attempts},
          {"attempts_left", std::max(0, status.max_attempts - status.attempts_in_window)},
          {"cooldown_until", time_or_null(status.cooldown_until)},
          {"last_repair", last_repair}}},
        {"host_trust", status.host_trust ? nlohmann::json{{"fingerprint", status.host_trust->fingerprint},
                                                          {"diagnosed_at", format_time_utc(status.host_trust->diagnosed_at)},
                                                          {"causes", status.host_trust->causes}}
                                         : nlohmann::json(nullptr)},
    };
}

}  // namespace

nlohmann::json pause_document(const RepairPolicy::Pause& pause) {
    return {{"since", format_time_utc(pause.since)},
            {"until", time_or_null(pause.until)},
            {"by", pause.by},
            {"reason", pause.reason}};
}

nlohmann::json remediation_document(bool enabled, bool dry_run, const std::optional<RepairPolicy::Pause>& host_pause) {
    // The mode by the metric's own rule (certheal_remediation_mode), so the two never disagree.
    MonitorStatus flags;
    flags.remediation_enabled = enabled;
    flags.dry_run = dry_run;
    flags.host_pause = host_pause;
    nlohmann::json document = {{"enabled", enabled},
                               {"dry_run", dry_run},
                               {"mode", std::string(to_string(remediation_mode(flags)))},
                               {"paused", host_pause.has_value()}};
    if (host_pause) {
        document["paused_since"] = format_time_utc(host_pause->since);
        document["paused_until"] = time_or_null(host_pause->until);
        document["paused_by"] = host_pause->by;
        document["paused_reason"] = host_pause->reason;
    }
    return document;
}

nlohmann::json status_document(const MonitorStatus& status, long long pid) {
    auto document = head_document(status, pid);
    auto& sites = document["sites"] = nlohmann::json::array();
    for (const auto& site : status.sites) sites.push_back(site_document(site));
    return document;
}

std::string status_document_text(const MonitorStatus& status, long long pid) {
    std::string text = head_document(status, pid).dump();
    text.pop_back();  // the closing brace: the sites follow
    text += ",\n\"sites\": [";
    bool first = true;
    for (const auto& site : status.sites) {
        text += first ? "\n" : ",\n";
        first = false;
        text += site_document(site).dump();
    }
    text += "\n]}\n";
    return text;
}

StatusWriteSchedule::StatusWriteSchedule(Clock& clock, std::function<void()> write, StatusWriteLimits limits)
    : clock_(clock), write_(std::move(write)), limits_(limits) {}

void StatusWriteSchedule::changed(StatusChange change) {
    const auto now = clock_.monotonic_now();
    auto due = now + limits_.settle;
    if (last_write_) {
        const auto gap = change == StatusChange::significant ? limits_.min_gap : limits_.routine_gap;
        due = std::max(due, *last_write_ + gap);
    }
    if (due_ && *due_ <= due) return;  // a write is already coming, no later than this one would
    due_ = due;
    timer_ = clock_.after(std::chrono::ceil<Duration>(due - now), [this] { write_now(); });
}

void StatusWriteSchedule::write_now() {
    due_.reset();
    timer_.reset();
    last_write_ = clock_.monotonic_now();
    ++writes_;
    if (write_) write_();
}

void StatusWriteSchedule::cancel() {
    due_.reset();
    timer_.reset();
}

}  // namespace certheal
