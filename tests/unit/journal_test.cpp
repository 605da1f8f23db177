#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "support/pki.hpp"
#include "core/record/journal.hpp"
#include "core/base/time_format.hpp"
#include "service/platform.hpp"

using namespace certheal;
using namespace std::chrono_literals;

namespace {

OwnFiles& own_files() {
    static const auto files = platform::make_own_files();
    return *files;
}

TimePoint at(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms = 0) {
    using namespace std::chrono;
    return TimePoint{sys_days{year{y} / month{mo} / day{d}}.time_since_epoch() + hours{h} + minutes{mi} + seconds{s} +
                     milliseconds{ms}};
}

std::vector<std::string> lines_of(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

Event symptom_event() {
    Event event;
    event.id = EventId::symptom_confirmed;
    event.time = at(2026, 11, 24, 22, 31, 5, 123);
    event.site = "intranet";
    event.incident = "20261124T223105-1";
    event.message = "The site intranet rejected the client certificate 3 times in a row.";
    event.details = {{"class", "client_cert_rejected"}, {"status", 403}};
    return event;
}

}  // namespace

TEST_CASE("times are written in UTC with millisecond precision", "[journal][time]") {
    CHECK(format_time_utc(at(2026, 11, 24, 22, 31, 5, 123)) == "2026-11-24T22:31:05.123Z");
    CHECK(format_time_utc(at(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z");
    CHECK(format_time_utc(at(2026, 1, 2, 3, 4, 5) + 999us) == "2026-01-02T03:04:05.000Z");
}

TEST_CASE("a formatted time parses back to the same instant", "[journal][time]") {
    const auto time = at(2028, 2, 29, 23, 59, 59, 7);
    const auto parsed = parse_time_utc(format_time_utc(time));
    REQUIRE(parsed);
    CHECK(*parsed == time);
}

TEST_CASE("times without a fraction or with more digits still parse", "[journal][time]") {
    CHECK(parse_time_utc("2026-11-24T22:31:05Z") == at(2026, 11, 24, 22, 31, 5));
    CHECK(parse_time_utc("2026-11-24T22:31:05.5Z") == at(2026, 11, 24, 22, 31, 5, 500));
    CHECK(parse_time_utc("2026-11-24T22:31:05.123456Z") == at(2026, 11, 24, 22, 31, 5, 123));
}

TEST_CASE("malformed times do not parse", "[journal][time]") {
    CHECK_FALSE(parse_time_utc(""));
    CHECK_FALSE(parse_time_utc("2026-11-24 22:31:05Z"));
    CHECK_FALSE(parse_time_utc("2026-11-24T22:31:05"));  // local time is ambiguous
    CHECK_FALSE(parse_time_utc("2026-02-30T22:31:05Z"));
    CHECK_FALSE(parse_time_utc("2026-11-24T24:31:05Z"));
    CHECK_FALSE(parse_time_utc("2026-11-24T22:31:05.Z"));
    CHECK_FALSE(parse_time_utc("2026-11-24T22:31:05Zjunk"));
}

TEST_CASE("incident ids name the UTC second and a sequence number", "[journal]") {
    CHECK(make_incident_id(at(2026, 11, 24, 22, 31, 5, 900), 1) == "20261124T223105-1");
    CHECK(make_incident_id(at(2026, 1, 2, 3, 4, 5), 12) == "20260102T030405-12");
}

TEST_CASE("a journal record puts the fixed keys first and merges the details", "[journal]") {
    const auto record = journal_record(symptom_event());
    const auto text = record.dump();
    CHECK(text.rfind(R"({"time":"2026-11-24T22:31:05.123Z","id":2001,"event":"symptom_confirmed",)"
                     R"("site":"intranet","incident":"20261124T223105-1","message":)",
                     0) == 0);
    CHECK(record["class"] == "client_cert_rejected");
    CHECK(record["status"] == 403);
}

TEST_CASE("details cannot override the fixed keys of a record", "[journal]") {
    auto event = symptom_event();
    event.details = {{"event", "forged"}, {"id", 1}, {"time", "yesterday"}, {"site", "other"}, {"extra", true}};
    const auto record = journal_record(event);
    CHECK(record["event"] == "symptom_confirmed");
    CHECK(record["id"] == 2001);
    CHECK(record["time"] == "2026-11-24T22:31:05.123Z");
    CHECK(record["site"] == "intranet");
    CHECK(record["extra"] == true);
}

TEST_CASE("an event without a site or incident records them as null", "[journal]") {
    Event event;
    event.id = EventId::service_started;
    event.time = at(2026, 11, 24, 8, 0, 0);
    event.message = "certheal started.";
    const auto record = journal_record(event);
    CHECK(record["site"].is_null());
    CHECK(record["incident"].is_null());
}

TEST_CASE("the journal sink appends one line per event and creates the folder", "[adapters][journal][file]") {
    test::TempDir scratch;
    const auto state_dir = scratch.path() / "state" / "nested";
    JournalSink sink(state_dir, own_files());
    auto first = symptom_event();
    auto second = symptom_event();
    second.id = EventId::repair_started;
    second.message = "certheal started the repair.";

    sink.emit(first);
    sink.emit(second);

    const auto lines = lines_of(state_dir / "journal.jsonl");
    REQUIRE(lines.size() == 2);
    CHECK(nlohmann::json::parse(lines[0])["event"] == "symptom_confirmed");
    CHECK(nlohmann::json::parse(lines[1])["event"] == "repair_started");
    CHECK(sink.last_write_ok());
    CHECK_FALSE(sink.last_error());
}

TEST_CASE("the journal sink never rewrites what is already in the file", "[adapters][journal][file]") {
    test::TempDir scratch;
    const auto file = scratch.path() / "journal.jsonl";
    { std::ofstream(file, std::ios::binary) << "{\"event\":\"from_before\"}\n"; }
    {
        JournalSink sink(scratch.path(), own_files());
        sink.emit(symptom_event());
    }
    JournalSink reopened(scratch.path(), own_files());
    reopened.emit(symptom_event());

    const auto lines = lines_of(file);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "{\"event\":\"from_before\"}");
}

TEST_CASE("a journal that cannot be written is remembered, not thrown", "[adapters][journal][file]") {
    test::TempDir scratch;
    // A regular file where the state folder should be makes every write fail.
    const auto blocker = scratch.path() / "not-a-folder";
    { std::ofstream(blocker) << "x"; }
    JournalSink sink(blocker, own_files());

    REQUIRE_NOTHROW(sink.emit(symptom_event()));
    REQUIRE(sink.last_error());
    CHECK(sink.last_error()->code);
    CHECK(sink.last_error()->message.find(blocker.string()) != std::string::npos);
    CHECK(sink.failed_writes() == 1);
    CHECK_FALSE(sink.last_write_ok());
}

TEST_CASE("invalid UTF-8 in details does not lose the record", "[adapters][journal][file]") {
    test::TempDir scratch;
    JournalSink sink(scratch.path(), own_files());
    auto event = symptom_event();
    event.details = {{"output_tail", std::string("bad \xff byte")}};
    sink.emit(event);
    const auto records = read_journal(sink.path(), std::nullopt, nullptr);
    REQUIRE(records.size() == 1);
    CHECK(records[0]["output_tail"].get<std::string>().rfind("bad ", 0) == 0);
}

TEST_CASE("reading the journal skips and counts corrupt lines", "[adapters][journal][file]") {
    test::TempDir scratch;
    const auto file = scratch.path() / "journal.jsonl";
    {
        std::ofstream out(file, std::ios::binary);
        out << R"({"time":"2026-11-24T22:31:05.123Z","event":"symptom_confirmed"})" << "\n";
        out << "not json at all\n";
        out << "\n";
        out << R"([1,2,3])" << "\n";
        out << R"({"time":"2026-11-24T22:32:00.000Z","event":"repair_started"})" << "\r\n";
        out << R"({"time":"2026-11-24T22:33:00.000Z","event":"repai)";  // cut short by a crash
    }
    std::string warnings;
    const auto records = read_journal(file, std::nullopt, &warnings);
    REQUIRE(records.size() == 2);
    CHECK(records[1]["event"] == "repair_started");
    CHECK(warnings.find("Skipped 3 lines") != std::string::npos);
    CHECK(warnings.find("line 2") != std::string::npos);
}

TEST_CASE("reading the journal since a time leaves older records out", "[adapters][journal][file]") {
    test::TempDir scratch;
    const auto file = scratch.path() / "journal.jsonl";
    {
        std::ofstream out(file, std::ios::binary);
        out << R"({"time":"2026-11-24T22:00:00.000Z","event":"old"})" << "\n";
        out << R"({"time":"2026-11-24T23:00:00.000Z","event":"new"})" << "\n";
        out << R"({"event":"no_time"})" << "\n";
    }
    std::string warnings;
    const auto records = read_journal(file, at(2026, 11, 24, 22, 30, 0), &warnings);
    REQUIRE(records.size() == 1);
    CHECK(records[0]["event"] == "new");
    CHECK(warnings.empty());
    CHECK(read_journal(file, std::nullopt, nullptr).size() == 3);
}

TEST_CASE("a missing journal reads as empty", "[adapters][journal][file]") {
    test::TempDir scratch;
    std::string warnings;
    CHECK(read_journal(scratch.path() / "journal.jsonl", std::nullopt, &warnings).empty());
    CHECK(warnings.empty());
}

TEST_CASE("a journal record reads as one line for people", "[journal][history]") {
    const auto record = nlohmann::json::parse(journal_record(symptom_event()).dump());
    CHECK(format_event_line(record) ==
          "2026-11-24T22:31:05.123Z  symptom_confirmed  intranet  [20261124T223105-1]  "
          "The site intranet rejected the client certificate 3 times in a row.\n"
          "    evidence: client_cert_rejected, HTTP 403");
}

TEST_CASE("a record without site or incident still reads as one line", "[journal][history]") {
    const auto record = nlohmann::json::parse(
        R"({"time":"2026-11-24T08:00:00.000Z","event":"service_started","site":null,"incident":null,"message":"certheal started."})");
    CHECK(format_event_line(record) == "2026-11-24T08:00:00.000Z  service_started  -  certheal started.");
}

namespace {
struct RecordingSink : EventSink {
    std::vector<EventId> seen;
    void emit(const Event& event) override { seen.push_back(event.id); }
};
struct ThrowingSink : EventSink {
    void emit(const Event&) override { throw std::runtime_error("broken sink"); }
};
}  // namespace

TEST_CASE("the fan-out sink gives every sink the event even when one throws", "[adapters][journal][fanout]") {
    RecordingSink first, last;
    ThrowingSink broken;
    FanOutSink fan_out({&first, &broken});
    fan_out.add(last);
    REQUIRE_NOTHROW(fan_out.emit(symptom_event()));
    CHECK(first.seen == std::vector<EventId>{EventId::symptom_confirmed});
    CHECK(last.seen == std::vector<EventId>{EventId::symptom_confirmed});
}

namespace {

std::string record_line(const std::string& time, const std::string& event) {
    return nlohmann::json{{"time", time}, {"id", 1001}, {"event", event}, {"message", "m"}}.dump() + "\n";
}

void append(const std::filesystem::path& file, const std::string& text) {
    std::ofstream(file, std::ios::app | std::ios::binary) << text;
}

std::vector<std::string> tail_events(JournalTail& tail, std::string* warnings = nullptr) {
    std::vector<std::string> events;
    tail.read_new(std::nullopt, [&events](nlohmann::json&& record) { events.push_back(record.value("event", "")); },
                  warnings);
    return events;
}

}  // namespace

TEST_CASE("the journal tail passes each appended record once, and waits for a line's end", "[adapters][journal][follow]") {
    test::TempDir dir;
    const auto journal = dir.path() / "journal.jsonl";
    JournalTail tail(dir.path());
    CHECK(tail_events(tail).empty());  // no journal yet

    append(journal, record_line("2026-11-24T22:31:05.001Z", "service_started"));
    CHECK(tail_events(tail) == std::vector<std::string>{"service_started"});
    CHECK(tail_events(tail).empty());

    const auto second = record_line("2026-11-24T22:31:06.002Z", "probe_failed");
    append(journal, second.substr(0, 20));  // the writer is in the middle of the line
    CHECK(tail_events(tail).empty());
    append(journal, second.substr(20) + record_line("2026-11-24T22:31:07.003Z", "symptom_confirmed"));
    CHECK(tail_events(tail) == std::vector<std::string>{"probe_failed", "symptom_confirmed"});
}

TEST_CASE("the journal tail follows the journal across rotation without losing a record", "[adapters][journal][follow]") {
    test::TempDir dir;
    const auto journal = dir.path() / "journal.jsonl";
    JournalTail tail(dir.path());
    append(journal, record_line("2026-11-24T22:31:05.001Z", "service_started"));
    CHECK(tail_events(tail) == std::vector<std::string>{"service_started"});

    // Written to the old file just before it is rotated, then the new file begins.
    append(journal, record_line("2026-11-24T22:31:06.002Z", "repair_started"));
    std::filesystem::rename(journal, dir.path() / "journal.1.jsonl");
    CHECK(tail_events(tail) == std::vector<std::string>{"repair_started"});
    append(journal, record_line("2026-11-24T22:31:07.003Z", "repair_succeeded"));
    CHECK(tail_events(tail) == std::vector<std::string>{"repair_succeeded"});

    // Rotated again while nobody looked: the rest of the old one, then the new one from its start.
    append(journal, record_line("2026-11-24T22:31:08.004Z", "site_recovered"));
    std::filesystem::rename(dir.path() / "journal.1.jsonl", dir.path() / "journal.2.jsonl");
    std::filesystem::rename(journal, dir.path() / "journal.1.jsonl");
    append(journal, record_line("2026-11-24T22:31:09.005Z", "service_stopped"));
    CHECK(tail_events(tail) == std::vector<std::string>{"site_recovered", "service_stopped"});
}

TEST_CASE("the journal tail skips an over-long line without holding it, and says so", "[adapters][journal][follow][hostile]") {
    test::TempDir dir;
    const auto journal = dir.path() / "journal.jsonl";
    JournalTail tail(dir.path());
    append(journal, record_line("2026-11-24T22:31:05.001Z", "service_started"));
    append(journal, std::string(kMaxJournalLine + 10, 'x'));  // no newline yet
    std::string warnings;
    CHECK(tail_events(tail, &warnings) == std::vector<std::string>{"service_started"});
    CHECK_THAT(warnings, Catch::Contains("Skipped 1 line"));
    append(journal, std::string(1000, 'x') + "\n" + record_line("2026-11-24T22:31:06.002Z", "service_stopped"));
    warnings.clear();
    CHECK(tail_events(tail, &warnings) == std::vector<std::string>{"service_stopped"});
    CHECK(warnings.empty());
}
