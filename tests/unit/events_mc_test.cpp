// service/win/events.mc, the Windows Event Log message table, against core/model/events.cpp's
// event table: same IDs, MSG_<NAME> symbols, matching severities, and texts that use the
// insertion strings the Event Log sink fills (%1 message, %2 site, %3 incident, %4 details).
// Portable: it reads the .mc as text, so it runs on Linux, and under Wine too.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/events.hpp"

using namespace certheal;

namespace {

struct McMessage {
    std::map<std::string, std::string> headers;  // MessageId, Severity, Facility, SymbolicName, Language
    std::string text;
};

struct McFile {
    std::map<std::string, std::string> globals;  // MessageIdTypedef, SeverityNames, ...
    std::vector<McMessage> messages;
};

std::string trimmed(std::string text) {
    const auto not_space = [](unsigned char c) { return !std::isspace(c); };
    text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
    text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
    return text;
}

// CERTHEAL_SOURCE_DIR is a Unix path. Under Wine a root-relative path resolves on the current
// drive, which is Z: (the Unix root) when the test starts from a Unix folder; "Z:" + path is
// the explicit form for a test started elsewhere.
std::optional<std::string> read_source_file(const std::string& relative) {
    const std::string unix_path = std::string(CERTHEAL_SOURCE_DIR) + "/" + relative;
    for (const std::string& candidate : {unix_path, "Z:" + unix_path}) {
        std::ifstream file(candidate, std::ios::binary);
        if (!file) continue;
        std::stringstream text;
        text << file.rdbuf();
        return text.str();
    }
    return std::nullopt;
}

// The subset of the message compiler's syntax events.mc uses: "Key=value" headers (a value
// in parentheses may span lines), "; comment" lines, and message texts that run from the line
// after "Language=" to a line holding only ".".
McFile parse_mc(const std::string& source) {
    McFile file;
    std::istringstream lines(source);
    std::string line;
    McMessage* current = nullptr;
    bool in_text = false;
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (in_text) {
            if (line == ".") {
                in_text = false;
            } else {
                current->text += line + "\n";
            }
            continue;
        }
        const std::string stripped = trimmed(line);
        if (stripped.empty() || stripped.front() == ';') continue;
        const auto equals = stripped.find('=');
        REQUIRE(equals != std::string::npos);
        const std::string key = trimmed(stripped.substr(0, equals));
        std::string value = trimmed(stripped.substr(equals + 1));
        if (!value.empty() && value.front() == '(') {
            while (value.find(')') == std::string::npos && std::getline(lines, line)) value += " " + trimmed(line);
        }
        if (key == "MessageId") {
            file.messages.emplace_back();
            current = &file.messages.back();
        }
        if (current == nullptr) {
            file.globals[key] = value;
            continue;
        }
        current->headers[key] = value;
        if (key == "Language") in_text = true;
    }
    return file;
}

std::string symbolic_name_of(std::string_view event_name) {
    std::string symbol = "MSG_";
    for (const char c : event_name) symbol += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return symbol;
}

std::string mc_severity_of(Severity severity) {
    switch (severity) {
        case Severity::information: return "Informational";
        case Severity::warning: return "Warning";
        case Severity::error: return "Error";
    }
    return "?";
}

std::optional<McFile> load_events_mc() {
    const auto source = read_source_file("service/win/events.mc");
    if (!source) return std::nullopt;
    return parse_mc(*source);
}

}  // namespace

TEST_CASE("events.mc has exactly one message per event of the event table", "[events][eventlog]") {
    const auto mc = load_events_mc();
    if (!mc) {
        WARN("Skipped: cannot read " CERTHEAL_SOURCE_DIR "/service/win/events.mc (nor on drive Z: under Wine).");
        return;
    }
    std::vector<long> mc_ids;
    for (const auto& message : mc->messages) mc_ids.push_back(std::stol(message.headers.at("MessageId"), nullptr, 0));
    std::vector<long> table_ids;
    for (const auto& def : event_table()) table_ids.push_back(static_cast<long>(def.id));
    std::sort(mc_ids.begin(), mc_ids.end());
    std::sort(table_ids.begin(), table_ids.end());
    CHECK(mc_ids == table_ids);
    CHECK(mc_ids.size() == 29);
}

TEST_CASE("every event's message in events.mc has its symbol, severity and insertion strings",
          "[events][eventlog]") {
    const auto mc = load_events_mc();
    if (!mc) {
        WARN("Skipped: cannot read " CERTHEAL_SOURCE_DIR "/service/win/events.mc (nor on drive Z: under Wine).");
        return;
    }
    for (const auto& def : event_table()) {
        INFO("event " << def.name << " (" << static_cast<int>(def.id) << ")");
        const auto message = std::find_if(mc->messages.begin(), mc->messages.end(), [&](const McMessage& m) {
            return std::stol(m.headers.at("MessageId"), nullptr, 0) == static_cast<long>(def.id);
        });
        REQUIRE(message != mc->messages.end());
        const auto& headers = message->headers;
        const auto header = [&](const std::string& key) {
            const auto found = headers.find(key);
            return found == headers.end() ? std::string("(missing)") : found->second;
        };
        CHECK(header("SymbolicName") == symbolic_name_of(def.name));
        CHECK(header("Severity") == mc_severity_of(def.severity));
        CHECK(header("Facility") == "Application");
        CHECK(header("Language") == "English");
        // The event's own sentence and its evidence always appear; nothing beyond %4 is filled.
        CHECK(message->text.find("%1") != std::string::npos);
        CHECK(message->text.find("%4") != std::string::npos);
        for (int unused = 5; unused <= 9; ++unused) {
            CHECK(message->text.find("%" + std::to_string(unused)) == std::string::npos);
        }
        CHECK(trimmed(message->text).size() > 40);
    }
}

TEST_CASE("events.mc keeps every message ID equal to the event ID in the low 16 bits", "[events][eventlog]") {
    const auto mc = load_events_mc();
    if (!mc) {
        WARN("Skipped: cannot read " CERTHEAL_SOURCE_DIR "/service/win/events.mc (nor on drive Z: under Wine).");
        return;
    }
    const auto global = [&](const std::string& key) {
        const auto found = mc->globals.find(key);
        return found == mc->globals.end() ? std::string() : found->second;
    };
    CHECK(global("MessageIdTypedef") == "DWORD");
    // Facility 0: the generated ID is severity << 30 | event ID, and Event Viewer shows 1000, not 0x0FFF03E8.
    const std::string facilities = global("FacilityNames");
    CHECK(facilities.find("Application=0x0:") != std::string::npos);
    CHECK(facilities.find("Application=0x0:") == facilities.find("Application="));
    const std::string severities = global("SeverityNames");
    CHECK(severities.find("Informational=0x1:") != std::string::npos);
    CHECK(severities.find("Warning=0x2:") != std::string::npos);
    CHECK(severities.find("Error=0x3:") != std::string::npos);
}

TEST_CASE("docs/events.md lists every Event Log message with its symbol, severity and first paragraph",
          "[events][eventlog][docs]") {
    const auto mc = load_events_mc();
    const auto doc = read_source_file("docs/events.md");
    if (!mc || !doc) {
        WARN("Skipped: cannot read events.mc or docs/events.md under " CERTHEAL_SOURCE_DIR " (nor on drive Z:).");
        return;
    }
    for (const auto& message : mc->messages) {
        const std::string first_paragraph = message.text.substr(0, message.text.find("%n"));
        const std::string last_label = message.text.find("Evidence: %4") != std::string::npos ? "Evidence" : "Details";
        const std::string row = "| " + message.headers.at("MessageId") + " | " + message.headers.at("SymbolicName") +
                                " | " + message.headers.at("Severity") + " | " + first_paragraph + " | " + last_label +
                                ": %4 |";
        INFO("missing or different row: " << row);
        CHECK(doc->find(row) != std::string::npos);
    }
}
