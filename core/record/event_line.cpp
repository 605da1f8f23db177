#include "core/record/journal.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "core/base/duration.hpp"
#include "core/base/text.hpp"
#include "core/base/time_format.hpp"

// journal.hpp's format_event_line: the journal's records as lines for people.
namespace certheal {
namespace {

// Detail lines come from outside data (a program's stderr, a server's answer): control
// characters, escape sequences included, never reach the terminal.
std::string printable(std::string_view text) {
    std::string clean;
    clean.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        clean += (byte < 0x20 && c != '\t') || byte == 0x7F ? '?' : c;
    }
    return clean;
}

// "client_cert_rejected, HTTP 403.16, TLS alert unknown_ca, 0x800B010A CERT_E_CHAINING, cause ca_not_trusted".
std::string evidence_text(const nlohmann::json& evidence) {
    const std::string probe_class = string_field(evidence, "class");
    if (probe_class.empty()) return {};
    std::string text = probe_class;
    const auto status = evidence.find("status");
    if (status != evidence.end() && status->is_number_integer()) {
        text += ", HTTP " + std::to_string(status->get<long long>());
        const auto sub = evidence.find("iis_substatus");
        if (sub != evidence.end() && sub->is_number_integer()) text += "." + std::to_string(sub->get<long long>());
    }
    if (const auto alert = string_field(evidence, "tls_alert"); !alert.empty()) text += ", TLS alert " + alert;
    if (const auto win32 = string_field(evidence, "iis_win32_status"); !win32.empty()) text += ", " + win32;
    if (const auto cause = string_field(evidence, "cause"); !cause.empty() && cause != "none_found") {
        text += ", cause " + cause;
    }
    return text;
}

// The last `count` non-empty lines of a program's output.
std::vector<std::string_view> last_lines(std::string_view text, std::size_t count) {
    std::vector<std::string_view> lines;
    while (!text.empty() && lines.size() < count) {
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
        if (text.empty()) break;
        const auto start = text.find_last_of('\n');
        const auto begin = start == std::string_view::npos ? 0 : start + 1;
        std::string_view line = text.substr(begin);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        lines.push_back(line);
        text = text.substr(0, begin);
    }
    std::reverse(lines.begin(), lines.end());
    return lines;
}

void add_detail(std::string& text, std::string_view label, std::string_view value) {
    if (value.empty()) return;
    text += "\n    ";
    text += label;
    text += ": ";
    text += printable(value);
}

}  // namespace

std::string format_event_line(const nlohmann::json& record) {
    if (!record.is_object()) return "?";
    const std::string raw_time = string_field(record, "time");
    std::string when = raw_time.empty() ? "?" : raw_time;
    if (const auto parsed = parse_time_utc(raw_time)) when = format_time_utc(*parsed);
    std::string event = string_field(record, "event");
    if (event.empty()) event = "?";
    std::string site = string_field(record, "site");
    if (site.empty()) site = "-";
    const std::string incident = string_field(record, "incident");

    std::string line = printable(when) + "  " + printable(event) + "  " + printable(site) + "  ";
    if (!incident.empty()) line += "[" + printable(incident) + "]  ";
    line += printable(string_field(record, "message"));

    // The sentence says what happened; these lines say on what evidence and what failed.
    std::string evidence = evidence_text(record);
    if (evidence.empty()) {
        const auto nested = record.find("evidence");
        if (nested != record.end() && nested->is_object()) evidence = evidence_text(*nested);
    }
    add_detail(line, "evidence", evidence);
    // The stage and the step by their names, which the sentence leaves out (they can be long).
    const bool step_event = event == "step_succeeded" || event == "step_failed";
    if (event.rfind("stage_", 0) == 0 || (step_event && record.contains("stage"))) {
        add_detail(line, "stage", string_field(record, "stage"));
    }
    // How long it took, in the one style of durations (docs/journal.md).
    std::string took;
    if (const auto ms = record.find("duration_ms"); ms != record.end() && ms->is_number_integer()) {
        took = format_elapsed(Duration(ms->get<long long>()));
    }
    if (step_event) {
        const std::string step = string_field(record, "description");
        add_detail(line, "step", step.empty() || took.empty() ? step : step + " (took " + took + ")");
    } else if (event.rfind("stage_", 0) == 0 || event.rfind("repair_", 0) == 0) {
        add_detail(line, "took", took);
    }
    add_detail(line, "done", string_field(record, "outcome"));
    add_detail(line, "dry run", string_field(record, "would"));
    add_detail(line, "error", string_field(record, "error"));
    if (const auto errors = record.find("errors"); errors != record.end() && errors->is_array()) {
        for (const auto& error : *errors) {
            if (error.is_string()) add_detail(line, "error", error.get<std::string>());
        }
    }
    const auto tail = record.find("output_tail");
    if (event == "step_failed" && tail != record.end() && tail->is_object()) {
        std::string_view stream = "stderr";
        std::string output = string_field(*tail, "stderr");
        if (last_lines(output, 1).empty()) {
            stream = "stdout";
            output = string_field(*tail, "stdout");
        }
        for (const auto shown : last_lines(output, kOutputLinesShown)) add_detail(line, stream, shown);
    }
    return line;
}

std::string format_event_line(const Event& event) {
    nlohmann::json record = nlohmann::json::object();
    if (event.details.is_object()) record = event.details;
    record["time"] = format_time_utc(event.time);
    record["event"] = std::string(definition_of(event.id).name);
    record["site"] = event.site;
    record["incident"] = event.incident;
    record["message"] = event.message;
    return format_event_line(record);
}

}  // namespace certheal
