#pragma once
// The JSON-lines journal (<state_dir>/journal.jsonl) that `certheal history` reads. See
// /work/shared/INTERFACE.md ("Journal"); its time format is core/time_format.hpp's.

#include <cstddef>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/events.hpp"
#include "core/result.hpp"

namespace certheal {

// The journal file inside a state folder.
std::filesystem::path journal_path(const std::filesystem::path& state_dir);

// One event as the journal stores it: time, id, event, site, incident, message first (site and
// incident are null when empty), then the details merged at top level. A detail may not
// override those fixed keys; a non-object `details` is kept under "details".
nlohmann::ordered_json journal_record(const Event& event);

// Appends one JSON object per event to <state_dir>/journal.jsonl and flushes it before emit()
// returns. The file is opened in append mode for every event, so an admin may delete or move
// it and the next event starts a new one; nothing already written is ever rewritten.
// A write that fails does not throw (sinks must not): the failure is remembered for the
// caller to report elsewhere, and the next event tries again.
class JournalSink : public EventSink {
public:
    explicit JournalSink(std::filesystem::path state_dir);

    void emit(const Event& event) override;

    const std::filesystem::path& path() const noexcept { return path_; }
    // The most recent write failure, if any write has ever failed (it stays after a later success).
    std::optional<Failure> last_error() const;
    // How many events could not be written.
    std::size_t failed_writes() const;
    // Whether the most recent event was written.
    bool last_write_ok() const;

private:
    std::filesystem::path state_dir_;
    std::filesystem::path path_;
    mutable std::mutex mutex_;
    std::optional<Failure> last_error_;
    std::size_t failed_writes_ = 0;
    bool last_write_ok_ = true;
};

// Reads the journal. Records older than `since` (and records whose time cannot be read, when
// `since` is given) are left out. Lines that are not JSON objects (for example a line cut
// short by a crash) are skipped and counted; when any are skipped and `warnings` is given, it
// receives one sentence saying how many and where. A missing file is an empty journal.
std::vector<nlohmann::json> read_journal(const std::filesystem::path& path, std::optional<TimePoint> since,
                                         std::string* warnings);

// One journal record for people (`certheal history`):
// "2026-11-24 22:31:05Z  symptom_confirmed  intranet  [20261124T223105-1]  <message>".
// A record without a site shows "-" there; without an incident the bracket is left out.
std::string format_event_line(const nlohmann::json& record);

// Sends every event to each of several sinks in turn (journal, syslog, Event Log). The sinks
// are not owned and must outlive this one. A sink that throws anyway does not stop the others.
class FanOutSink : public EventSink {
public:
    FanOutSink() = default;
    explicit FanOutSink(std::vector<EventSink*> sinks);

    void add(EventSink& sink);
    void emit(const Event& event) override;

private:
    std::vector<EventSink*> sinks_;
};

}  // namespace certheal
