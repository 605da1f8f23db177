#include "core/journal.hpp"
#include "core/time_format.hpp"
#include "core/text.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <system_error>

namespace certheal {
namespace {

using namespace std::chrono;

std::string string_field(const nlohmann::json& record, const char* key) {
    const auto found = record.find(key);
    if (found == record.end() || !found->is_string()) return {};
    return found->get<std::string>();
}


}  // namespace

std::filesystem::path journal_path(const std::filesystem::path& state_dir) { return state_dir / "journal.jsonl"; }

nlohmann::ordered_json journal_record(const Event& event) {
    nlohmann::ordered_json record;
    record["time"] = format_time_utc(event.time);
    record["id"] = static_cast<int>(event.id);
    record["event"] = std::string(definition_of(event.id).name);
    record["site"] = event.site.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(event.site);
    record["incident"] =
        event.incident.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(event.incident);
    record["message"] = event.message;
    if (event.details.is_object()) {
        for (const auto& [key, value] : event.details.items()) {
            if (!record.contains(key)) record[key] = value;
        }
    } else if (!event.details.is_null()) {
        record["details"] = event.details;
    }
    return record;
}

JournalSink::JournalSink(std::filesystem::path state_dir)
    : state_dir_(std::move(state_dir)), path_(journal_path(state_dir_)) {}

void JournalSink::emit(const Event& event) {
    std::optional<Failure> failure;
    try {
        // Invalid UTF-8 (say, in a child's output tail) is replaced rather than failing the record.
        const std::string line =
            journal_record(event).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";

        std::lock_guard lock(mutex_);
        std::error_code folder_error;
        std::filesystem::create_directories(state_dir_, folder_error);
        if (folder_error) {
            failure = Failure{folder_error, "certheal could not create its state folder " + state_dir_.string() +
                                                " for the journal: " + folder_error.message() +
                                                ". Check that the folder's parent exists and is writable."};
        } else {
            errno = 0;
            std::ofstream out(path_, std::ios::out | std::ios::app | std::ios::binary);
            if (!out) {
                const auto code = last_os_error_or(std::errc::permission_denied);
                failure = Failure{code, "certheal could not open its journal " + path_.string() + ": " +
                                            code.message() + ". Check the permissions of the state folder."};
            } else {
                errno = 0;
                out.write(line.data(), static_cast<std::streamsize>(line.size()));
                out.flush();
                if (!out) {
                    const auto code = last_os_error_or(std::errc::io_error);
                    failure = Failure{code, "certheal could not write to its journal " + path_.string() + ": " +
                                                code.message() + ". Check free disk space."};
                }
            }
        }
        last_write_ok_ = !failure;
        if (failure) {
            ++failed_writes_;
            last_error_ = std::move(failure);
        }
    } catch (const std::exception& error) {
        // Only allocation or a lock failure can get here; a sink must not throw.
        std::lock_guard lock(mutex_);
        last_write_ok_ = false;
        ++failed_writes_;
        last_error_ = Failure{std::make_error_code(std::errc::not_enough_memory),
                              std::string("certheal could not record an event in its journal: ") + error.what()};
    }
}

std::optional<Failure> JournalSink::last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
}

std::size_t JournalSink::failed_writes() const {
    std::lock_guard lock(mutex_);
    return failed_writes_;
}

bool JournalSink::last_write_ok() const {
    std::lock_guard lock(mutex_);
    return last_write_ok_;
}

std::vector<nlohmann::json> read_journal(const std::filesystem::path& path, std::optional<TimePoint> since,
                                         std::string* warnings) {
    std::vector<nlohmann::json> records;
    std::ifstream in(path, std::ios::in | std::ios::binary);
    if (!in) return records;

    std::string line;
    std::size_t line_number = 0, corrupt = 0, first_corrupt_line = 0;
    while (std::getline(in, line)) {
        ++line_number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (record.is_discarded() || !record.is_object()) {
            if (corrupt++ == 0) first_corrupt_line = line_number;
            continue;
        }
        if (since) {
            const auto time = parse_time_utc(string_field(record, "time"));
            if (!time || *time < *since) continue;
        }
        records.push_back(std::move(record));
    }
    if (corrupt > 0 && warnings) {
        *warnings = "Skipped " + std::to_string(corrupt) + (corrupt == 1 ? " line" : " lines") + " of " +
                    path.string() + " that " + (corrupt == 1 ? "is" : "are") +
                    " not a JSON object (first at line " + std::to_string(first_corrupt_line) +
                    "); the rest of the journal was read.";
    }
    return records;
}

std::string format_event_line(const nlohmann::json& record) {
    const std::string raw_time = string_field(record, "time");
    std::string when = raw_time.empty() ? "?" : raw_time;
    if (const auto parsed = parse_time_utc(raw_time)) when = format_time_for_people(*parsed);
    std::string event = string_field(record, "event");
    if (event.empty()) event = "?";
    std::string site = string_field(record, "site");
    if (site.empty()) site = "-";
    const std::string incident = string_field(record, "incident");

    std::string line = when + "  " + event + "  " + site + "  ";
    if (!incident.empty()) line += "[" + incident + "]  ";
    line += string_field(record, "message");
    return line;
}

FanOutSink::FanOutSink(std::vector<EventSink*> sinks) : sinks_(std::move(sinks)) {}

void FanOutSink::add(EventSink& sink) { sinks_.push_back(&sink); }

void FanOutSink::emit(const Event& event) {
    for (EventSink* sink : sinks_) {
        try {
            if (sink) sink->emit(event);
        } catch (...) {
            // Sinks must not throw; if one does, the others still get the event.
        }
    }
}

}  // namespace certheal
