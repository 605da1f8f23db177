#include "service/status_view.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "service/exit_code.hpp"
#include "service/text_layout.hpp"

namespace certheal::cli {
namespace {

using namespace std::chrono;

constexpr std::size_t kWidth = 80;
constexpr std::size_t kLabelWidth = 14;  // "state folder: "

const nlohmann::json kNull = nullptr;

const nlohmann::json& member(const nlohmann::json& object, const char* key) {
    if (!object.is_object()) return kNull;
    const auto found = object.find(key);
    return found != object.end() ? *found : kNull;
}

std::string text_of(const nlohmann::json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number() || value.is_boolean()) return value.dump();
    return "-";
}

std::optional<TimePoint> time_of(const nlohmann::json& value) {
    return value.is_string() ? parse_time_utc(value.get<std::string>()) : std::nullopt;
}

// "2026-11-24T22:31:05.123Z", or what the file said when it is no time certheal wrote.
std::string when(const nlohmann::json& value) {
    if (const auto time = time_of(value)) return format_time_utc(*time);
    return text_of(value);
}

// "label:        value", the value's words wrapped at 80 columns under the value's start.
std::string field(std::string_view label, const std::string& value, bool wide) {
    std::string head = std::string(label) + ":";
    head.resize(std::max(head.size() + 1, kLabelWidth), ' ');
    if (wide) return head + value + "\n";
    return head + wrap_words(words_of(value), head.size(), kLabelWidth, kWidth) + "\n";
}

std::string mode_of(const nlohmann::json& remediation) {
    const auto& mode = member(remediation, "mode");
    if (mode.is_string()) return mode.get<std::string>();
    // A status.json written before "mode" existed.
    if (!member(remediation, "enabled").is_boolean()) return {};
    if (!member(remediation, "enabled").get<bool>()) return "disabled";
    return member(remediation, "dry_run") == true ? "dry_run" : "enabled";
}

// The remediation line: whether a confirmed symptom is repaired. Said plainly when it is not.
std::string remediation_text(const nlohmann::json& remediation) {
    const std::string mode = mode_of(remediation);
    if (mode == "enabled") return "enabled: a confirmed symptom starts a repair";
    if (mode == "dry_run") {
        return "DRY RUN: a confirmed symptom is described in the journal, nothing is changed "
               "(remediation.dry_run)";
    }
    if (mode == "disabled") return "disabled: symptoms are reported, never repaired (remediation.enabled is false)";
    if (mode == "paused") {
        // Written by `certheal pause`: "paused_until" is the time it ends by itself, null when
        // it lasts until `certheal unpause`.
        const auto& until = member(remediation, "paused_until");
        const auto& reason = member(remediation, "paused_reason");
        return "PAUSED " + (until.is_string() ? "until " + when(until) : std::string("until certheal unpause")) +
               " by " + text_of(member(remediation, "paused_by")) +
               (reason.is_string() && !reason.get<std::string>().empty() ? " (" + reason.get<std::string>() + ")" : "") +
               ": probes go on, no repair starts" +
               (member(remediation, "dry_run") == true ? "; DRY RUN as well (remediation.dry_run)" : "");
    }
    return mode.empty() ? "unknown (the status file does not say)" : mode;
}

// "site intranet until 2026-11-25 00:31:05Z by alice (web server upgrade)": one pause of a
// site, from status.json's site "pause", or from state.json's "pauses".
std::string site_pause_text(const std::string& site, const nlohmann::json& pause, const char* until_key) {
    const auto& until = member(pause, until_key);
    const auto& reason = member(pause, "reason");
    return "site " + site + " " + (until.is_string() ? "until " + when(until) : std::string("until certheal unpause")) +
           " by " + text_of(member(pause, "by")) +
           (reason.is_string() && !reason.get<std::string>().empty() ? " (" + reason.get<std::string>() + ")" : "");
}

// The pauses state.json keeps that are still in force: what a stopped certheal will hold.
std::string saved_pause_lines(const nlohmann::json& saved, TimePoint now, bool wide) {
    const auto& pauses = member(saved, "pauses");
    if (!pauses.is_array()) return {};
    std::string text;
    for (const auto& pause : pauses) {
        if (member(pause, "paused") != true) continue;
        const auto until = time_of(member(pause, "until"));
        if (until && *until <= now) continue;
        const auto& site = member(pause, "site");
        text += field("paused", (site.is_string() ? site_pause_text(site.get<std::string>(), pause, "until")
                                                  : "the host " + (until ? "until " + when(member(pause, "until"))
                                                                         : std::string("until certheal unpause")) +
                                                        " by " + text_of(member(pause, "by"))) +
                                    " (saved; it holds repairs when certheal runs)",
                      wide);
    }
    return text;
}

std::string policy_text(const nlohmann::json& policy) {
    std::string text;
    if (member(policy, "repair_running") == true) {
        text += "repair " + text_of(member(policy, "repair_incident")) + " is running; ";
    }
    if (member(policy, "circuit_open") == true) {
        text += "circuit breaker OPEN since " + when(member(policy, "circuit_opened_at")) +
                " (it closes by itself at " + when(member(policy, "circuit_closes_at")) +
                ", or run certheal resume)";
    } else {
        text += "circuit breaker closed";
    }
    text += "; " + text_of(member(policy, "attempts_in_window")) + " of " + text_of(member(policy, "max_attempts")) +
            " attempts used in the window (" + text_of(member(policy, "attempts_left")) + " left)";
    const auto& cooldown = member(policy, "cooldown_until");
    text += cooldown.is_string() ? "; cooldown until " + when(cooldown) : std::string("; no cooldown");
    return text;
}

std::string last_repair_text(const nlohmann::json& policy) {
    const auto& last = member(policy, "last_repair");
    if (!last.is_object()) return "none recorded";
    return text_of(member(last, "incident")) + " ended " + when(member(last, "ended_at")) + ", " +
           (member(last, "succeeded") == true ? "succeeded" : "FAILED") +
           (member(last, "manual") == true ? " (run by hand)" : "");
}

std::string pad(std::string text, std::size_t width) {
    if (text.size() < width) text.resize(width, ' ');
    return text;
}

// A name cut to `width` columns, marked as cut.
std::string fit(const std::string& text, std::size_t width) {
    if (text.size() <= width) return text;
    if (width <= 3) return text.substr(0, width);
    return text.substr(0, width - 3) + "...";
}

// Until the first of the site's certificates expires: "41d", "20h", "expired", "-".
std::string expiry_text(const nlohmann::json& site, TimePoint now) {
    std::optional<TimePoint> first;
    for (const char* key : {"client_cert_not_after", "server_cert_not_after"}) {
        if (const auto time = time_of(member(site, key)); time && (!first || *time < *first)) first = time;
    }
    if (!first) return "-";
    if (*first <= now) return "expired";
    const auto left = *first - now;
    if (left < hours(48)) return std::to_string(duration_cast<hours>(left).count()) + "h";
    return std::to_string(duration_cast<hours>(left).count() / 24) + "d";
}

std::string narrow_table(const nlohmann::json& sites, TimePoint now, bool running, bool& names_cut) {
    struct Row {
        std::string name, probe_class, since, next, expires;
    };
    std::vector<Row> rows;
    for (const auto& site : sites) {
        if (!site.is_object()) continue;
        Row row;
        row.name = text_of(member(site, "name"));
        row.probe_class = member(site, "class").is_string() ? member(site, "class").get<std::string>() : "not probed yet";
        const auto since = time_of(member(site, "since"));
        row.since = since ? format_age(duration_cast<Duration>(now - *since)) : "-";
        const auto next = time_of(member(site, "next_probe"));
        row.next = !running || !next ? "-" : *next <= now ? "due" : format_age(duration_cast<Duration>(*next - now));
        row.expires = expiry_text(site, now);
        rows.push_back(std::move(row));
    }
    std::size_t class_width = 5;
    std::size_t name_width = 4;
    for (const auto& row : rows) {
        class_width = std::max(class_width, row.probe_class.size());
        name_width = std::max(name_width, row.name.size());
    }
    // SINCE, NEXT and EXPIRES take 7, 6 and 7 columns; the site's name gets what is left.
    const std::size_t fixed_columns = 2 + class_width + 2 + 7 + 2 + 6 + 2 + 7;
    const std::size_t room = kWidth > fixed_columns + 8 ? kWidth - fixed_columns : 8;
    if (name_width > room) {
        name_width = room;
        names_cut = true;
    }
    std::string text = pad("SITE", name_width) + "  " + pad("CLASS", class_width) + "  " + pad("SINCE", 7) + "  " +
                       pad("NEXT", 6) + "  EXPIRES\n";
    for (const auto& row : rows) {
        text += pad(fit(row.name, name_width), name_width) + "  " + pad(row.probe_class, class_width) + "  " +
                pad(row.since, 7) + "  " + pad(row.next, 6) + "  " + row.expires + "\n";
    }
    return text;
}

std::string wide_table(const nlohmann::json& sites) {
    std::size_t name_width = 4;
    std::size_t class_width = 5;
    std::size_t incident_width = 8;
    for (const auto& site : sites) {
        name_width = std::max(name_width, text_of(member(site, "name")).size());
        class_width = std::max(class_width, text_of(member(site, "class")).size());
        incident_width = std::max(incident_width, text_of(member(site, "incident")).size());
    }
    constexpr std::size_t kTime = 24;  // "2026-11-24T22:31:05.123Z"
    std::string text = pad("SITE", name_width) + "  " + pad("CLASS", class_width) + "  " + pad("SINCE", kTime) + "  " +
                       pad("INCIDENT", incident_width) + "  " + pad("NEXT PROBE", kTime) + "  " +
                       pad("CLIENT CERT UNTIL", kTime) + "  SERVER CERT UNTIL\n";
    for (const auto& site : sites) {
        if (!site.is_object()) continue;
        text += pad(text_of(member(site, "name")), name_width) + "  " + pad(text_of(member(site, "class")), class_width) +
                "  " + pad(when(member(site, "since")), kTime) + "  " + pad(text_of(member(site, "incident")), incident_width) +
                "  " + pad(when(member(site, "next_probe")), kTime) + "  " +
                pad(when(member(site, "client_cert_not_after")), kTime) + "  " +
                when(member(site, "server_cert_not_after")) + "\n";
    }
    return text;
}

// "incident:     20261124T223105-1 open for intranet, app2" and the command that shows its
// events, for each open incident.
std::string incident_lines(const nlohmann::json& sites, bool wide) {
    std::map<std::string, std::vector<std::string>> incidents;
    for (const auto& site : sites) {
        const auto& incident = member(site, "incident");
        if (incident.is_string()) incidents[incident.get<std::string>()].push_back(text_of(member(site, "name")));
    }
    std::string text;
    for (const auto& [incident, names] : incidents) {
        text += field("incident", incident + " open for " + join(names), wide);
        // The command on a line of its own, never cut in two: it is there to be copied.
        text += std::string(kLabelWidth, ' ') + "its events: certheal history --incident " + incident + "\n";
    }
    return text;
}

std::string verdict_text(const StatusVerdict& verdict) {
    switch (verdict.health) {
        case Health::healthy:
            return verdict.sites == 1 ? "the site is healthy" : "all " + std::to_string(verdict.sites) + " sites are healthy";
        case Health::unhealthy:
            return std::to_string(verdict.unhealthy_sites.size()) + " of " + std::to_string(verdict.sites) +
                   (verdict.sites == 1 ? " site" : " sites") + " not healthy: " + join(verdict.unhealthy_sites);
        case Health::unknown:
            break;
    }
    return "cannot tell: " + verdict.reason;
}

}  // namespace

std::string format_age(Duration duration) {
    const auto total = std::max<long long>(0, duration_cast<seconds>(duration).count());
    if (total < 60) return std::to_string(total) + "s";
    if (total < 3600) return std::to_string(total / 60) + "m";
    if (total < 48LL * 3600) {
        const auto minutes_left = (total % 3600) / 60;
        return std::to_string(total / 3600) + "h" + (minutes_left > 0 ? std::to_string(minutes_left) + "m" : "");
    }
    const auto hours_left = (total % 86400) / 3600;
    return std::to_string(total / 86400) + "d" + (hours_left > 0 ? std::to_string(hours_left) + "h" : "");
}

std::string to_string(Health health) {
    switch (health) {
        case Health::healthy: return "healthy";
        case Health::unhealthy: return "unhealthy";
        case Health::unknown: break;
    }
    return "unknown";
}

StatusVerdict judge_status(const nlohmann::json& report) {
    StatusVerdict verdict;
    const auto& live = member(report, "status");
    const auto& sites = member(live, "sites");
    if (sites.is_array()) {
        for (const auto& site : sites) {
            if (!site.is_object()) continue;
            ++verdict.sites;
            const auto& probe_class = member(site, "class");
            if (probe_class.is_string() && probe_class.get<std::string>() != "healthy") verdict.unhealthy_sites.push_back(text_of(member(site, "name")));
        }
    }
    const auto& service = member(report, "service");
    if (member(service, "running") != true) {
        verdict.reason = "certheal does not run" +
                         std::string(live.is_object() ? ", and what it saw when it last ran may have changed" : "");
        return verdict;
    }
    if (!live.is_object()) {
        verdict.reason = "the running certheal has not written its status yet";
        return verdict;
    }
    if (member(live, "pid") != member(service, "pid")) {
        verdict.reason = "the status file is from an earlier run; the running certheal has not written its own yet";
        return verdict;
    }
    if (!verdict.unhealthy_sites.empty()) {
        verdict.health = Health::unhealthy;
        return verdict;
    }
    if (verdict.sites == 0) {
        verdict.reason = "the status names no site";
        return verdict;
    }
    for (const auto& site : sites) {
        if (site.is_object() && !member(site, "class").is_string()) {
            verdict.reason = "not every site has been probed yet";
            return verdict;
        }
    }
    verdict.health = Health::healthy;
    return verdict;
}

int exit_code_of(const StatusVerdict& verdict) {
    switch (verdict.health) {
        case Health::healthy: return ok;
        case Health::unhealthy: return unhealthy;
        case Health::unknown: break;
    }
    return runtime_failure;
}

std::string render_status(const nlohmann::json& report, const StatusVerdict& verdict, TimePoint now, bool wide) {
    const auto& service = member(report, "service");
    const bool running = member(service, "running") == true;
    const auto& live = member(report, "status");
    std::string text;
    text += field("certheal",
                  running ? "running (pid " + text_of(member(service, "pid")) + ", found through " +
                                text_of(member(service, "found_by")) + ")"
                          : std::string("not running"),
                  wide);
    text += field("sites", verdict_text(verdict), wide);
    text += field("state folder",
                  text_of(member(report, "state_dir")) +
                      (member(report, "config_valid") == true
                           ? ""
                           : " (the configuration is not valid: run certheal check-config)"),
                  wide);

    const auto& live_remediation = member(live, "remediation");
    if (live_remediation.is_object()) {
        text += field("remediation", remediation_text(live_remediation), wide);
    } else if (const auto& configured = member(report, "configured_remediation"); configured.is_object()) {
        text += field("remediation", remediation_text(configured) + " (as configured)", wide);
    }
    if (const auto& sites = member(live, "sites"); sites.is_array()) {
        for (const auto& site : sites) {
            if (const auto& pause = member(site, "pause"); pause.is_object()) {
                text += field("paused", site_pause_text(text_of(member(site, "name")), pause, "until") +
                                            ": probes go on, no repair starts for it",
                              wide);
            }
        }
    }
    if (!running) text += saved_pause_lines(member(report, "state"), now, wide);

    if (live.is_object()) {
        if (!running) text += field("last status", "what certheal saw when it last ran, " + when(member(live, "generated_at")), wide);
        const auto& policy = member(live, "policy");
        text += field("repairs", policy_text(policy), wide);
        text += field("last repair", last_repair_text(policy), wide);
        const auto& sites = member(live, "sites");
        if (sites.is_array()) {
            bool names_cut = false;
            text += "\n" + (wide ? wide_table(sites) : narrow_table(sites, now, running, names_cut));
            if (names_cut) text += "(site names cut to fit 80 columns: certheal status --wide shows them whole)\n";
            const std::string incidents = incident_lines(sites, wide);
            if (!incidents.empty()) text += "\n" + incidents;
        }
    } else {
        const auto status_file = std::filesystem::path(text_of(member(report, "state_dir"))) / "status.json";
        text += field("status", "none yet (" + status_file.string() + " is written by the running service)", wide);
        const auto& saved = member(report, "state");
        if (saved.is_object()) {
            const auto& attempts = member(saved, "attempts");
            const auto& circuit = member(saved, "circuit");
            text += field("saved state",
                          std::to_string(attempts.is_array() ? attempts.size() : 0) +
                              " repair attempt(s) recorded, circuit breaker " +
                              (circuit.is_object() ? "OPEN since " + when(member(circuit, "opened_at"))
                                                   : std::string("closed")),
                          wide);
        }
    }
    const auto& problems = member(report, "problems");
    if (problems.is_array()) {
        for (const auto& problem : problems) text += field("problem", text_of(problem), wide);
    }
    const auto& warnings = member(report, "host_warnings");
    if (warnings.is_array()) {
        for (const auto& warning : warnings) text += field("warning", text_of(warning), wide);
    }
    return text;
}

}  // namespace certheal::cli
