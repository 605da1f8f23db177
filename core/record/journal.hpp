#pragma once
// The JSON-lines journal (<state_dir>/journal.jsonl) that `certheal history` reads. See
// docs/journal.md; its time format is core/base/time_format.hpp's.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/clock.hpp"
#include "core/model/events.hpp"
#include "core/model/ports.hpp"
#include "core/base/result.hpp"

namespace certheal {

// A record's string field; empty when it is missing or not a string.
std::string string_field(const nlohmann::json& record, const char* key);

// The journal file inside a state folder.
std::filesystem::path journal_path(const std::filesystem::path& state_dir);

// One event as the journal stores it: time, id, event, site, incident, message first (site and
// incident are null when empty), then the details merged at top level. A detail may not
// override those fixed keys; a non-object `details` is kept under "details".
nlohmann::ordered_json journal_record(const Event& event);

// Appends one JSON object per event to <state_dir>/journal.jsonl and flushes it before emit()
// returns. Each record is written whole or not at all: a write that fails (a full disk) is cut
// back off, never left as half a line for the next record to merge with. Records that could
// not be written wait, in order, in a bounded queue (the oldest are dropped first, and counted)
// and are written before anything newer, by the next emit() or by flush_pending(); `on_change`
// hears when the journal stops being writable and when it recovers, so the caller can say so
// at once in the system log and arm a retry. Nothing already written is ever rewritten: when
// the file passes `rotate_at` bytes it becomes journal.1.jsonl (the older ones move on to
// journal.<keep>.jsonl, the oldest is deleted). The journal is readable by its owner and group
// only (POSIX mode 0640; on Windows the state folder's ACL protects it). Every write goes
// through `files` (OwnFiles): a link, a FIFO or a device at the journal's name is refused at
// once, as a failed write, never followed or waited on.
// Sinks must not throw; this one never does.
struct JournalLimits {
    std::uintmax_t rotate_at = std::uintmax_t{10} * 1024 * 1024;  // bytes of journal.jsonl
    int keep_rotated = 4;              // journal.1.jsonl ... journal.4.jsonl
    std::size_t queued_events = 1000;  // held while the journal cannot be written
};

class JournalSink : public EventSink {
public:
    using Limits = JournalLimits;
    // What `on_change` hears: the journal stopped being writable (with why), or is again.
    struct Change {
        bool writable = false;
        std::optional<Failure> failure;  // set when not writable
        std::size_t queued = 0;          // records waiting in memory
        std::size_t dropped = 0;         // records lost because the queue was full
    };

    JournalSink(std::filesystem::path state_dir, OwnFiles& files, Limits limits = {});

    void emit(const Event& event) override;
    // Writes what is queued. True when nothing is left waiting.
    bool flush_pending();
    std::size_t pending() const;
    void on_change(std::function<void(const Change&)> listener);

    const std::filesystem::path& path() const noexcept { return path_; }
    // The most recent write failure, if any write has ever failed (it stays after a later success).
    std::optional<Failure> last_error() const;
    // How many events could not be written when they happened (written later or not).
    std::size_t failed_writes() const;
    // How many events were lost for good (the queue was full).
    std::size_t dropped() const;
    // Whether the most recent write succeeded.
    bool last_write_ok() const;

private:
    std::optional<Failure> write_line_locked(const std::string& line);
    void rotate_locked();
    std::optional<Change> drain_locked();

    std::filesystem::path state_dir_;
    std::filesystem::path path_;
    OwnFiles& files_;
    Limits limits_;
    mutable std::mutex mutex_;
    std::deque<std::string> queue_;
    std::function<void(const Change&)> listener_;
    std::optional<Failure> last_error_;
    std::size_t failed_writes_ = 0;
    std::size_t dropped_ = 0;
    bool last_write_ok_ = true;
};

// The journal files of a state folder, oldest first: journal.<keep>.jsonl ... journal.jsonl
// (those that exist as regular files: a link, a FIFO or a device at a journal's name is left out).
std::vector<std::filesystem::path> journal_files(const std::filesystem::path& state_dir);

// Reads journal records one at a time, never the whole file at once: `visit` gets each record
// in order. Records older than `since` (and records whose time cannot be read, when `since` is
// given) are left out. Lines that are not JSON objects, lines longer than kMaxJournalLine bytes
// and JSON nested too deep (a line cut short by a crash, a damaged or hostile file) are skipped
// and counted; when any are skipped and `warnings` is given, it receives one sentence saying
// how many and where. A missing file is an empty journal.
inline constexpr std::size_t kMaxJournalLine = std::size_t{256} * 1024;
void visit_journal(const std::filesystem::path& path, std::optional<TimePoint> since,
                   const std::function<void(nlohmann::json&&)>& visit, std::string* warnings);
// Every record of one file, for tests and small files.
std::vector<nlohmann::json> read_journal(const std::filesystem::path& path, std::optional<TimePoint> since,
                                         std::string* warnings);

// Reads a state folder's journal.jsonl as it grows (`certheal history --follow`): each
// read_new() passes on the complete records appended since the one before (the first call:
// the whole file); a line still being written waits for its end. When the journal was rotated
// in between, the rest of the file it was reading (now journal.1.jsonl) comes first, then the
// new journal.jsonl from its start. A file is told from its successor by the start of its first
// line (a millisecond time and an event), so this works the same on every platform. No file is
// kept open between calls: Windows could not rename an open journal. Lines are bounded and
// checked as visit_journal does; `warnings` receives one sentence when any were skipped.
class JournalTail {
public:
    explicit JournalTail(std::filesystem::path state_dir);
    void read_new(std::optional<TimePoint> since, const std::function<void(nlohmann::json&&)>& visit,
                  std::string* warnings);

private:
    struct Position {
        std::uintmax_t offset = 0;  // bytes read, up to the end of the last whole line
        bool in_long_line = false;  // inside a line longer than kMaxJournalLine: skip to its end
        std::string first_line;     // the start of the file's first line, once read
    };
    bool still_reading(const std::filesystem::path& file) const;

    std::filesystem::path state_dir_;
    Position position_;
};

// One journal record for people (`certheal history`, the console of `run` and `repair`):
// "2026-11-24T22:31:05.123Z  symptom_confirmed  intranet  [20261124T223105-1]  <message>",
// then, indented by four spaces, the facts a person needs that the sentence leaves to fields:
// "    evidence: client_cert_rejected, HTTP 403.16, ...", the stage and step by name, what a
// step did ("    done: ...") or would do, "    error: ..." and, for a failed step, the last
// lines the program wrote ("    stderr: ..."). A record without a site shows
// "-" there; without an incident the bracket is left out. No trailing newline.
std::string format_event_line(const nlohmann::json& record);
// The same for an event not yet written (the console).
std::string format_event_line(const Event& event);

// How many of a failed step's last output lines the lines for people show.
inline constexpr std::size_t kOutputLinesShown = 5;

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
