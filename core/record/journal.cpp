#include "core/record/journal.hpp"
#include "core/base/bounded_input.hpp"
#include "core/base/time_format.hpp"
#include "core/base/text.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <system_error>
#include <vector>

namespace certheal {
namespace {

using namespace std::chrono;

}  // namespace

std::string string_field(const nlohmann::json& record, const char* key) {
    const auto found = record.find(key);
    if (found == record.end() || !found->is_string()) return {};
    return found->get<std::string>();
}

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

JournalSink::JournalSink(std::filesystem::path state_dir, OwnFiles& files, Limits limits)
    : state_dir_(std::move(state_dir)), path_(journal_path(state_dir_)), files_(files), limits_(limits) {}

void JournalSink::on_change(std::function<void(const Change&)> listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
}

std::optional<Failure> JournalSink::write_line_locked(const std::string& line) {
    std::error_code error;
    std::filesystem::create_directories(state_dir_, error);
    if (error) {
        return Failure{error, "certheal could not create its state folder " + state_dir_.string() +
                                  " for the journal: " + error.message() +
                                  ". Check that the folder's parent exists and is writable."};
    }
    // Events name sites and show what repair steps printed: not for every local user.
    constexpr auto mode = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                          std::filesystem::perms::group_read;
    auto appended = files_.append(path_, line, mode, limits_.rotate_at);
    if (appended && appended.value() == OwnFiles::Appended::full) {
        rotate_locked();
        // If the rotation failed the journal just grows on; nothing is lost.
        appended = files_.append(path_, line, mode, std::numeric_limits<std::uintmax_t>::max());
    }
    if (!appended) return appended.error();
    return std::nullopt;
}

void JournalSink::rotate_locked() {
    std::error_code ignored;
    const auto rotated = [this](int number) {
        return state_dir_ / ("journal." + std::to_string(number) + ".jsonl");
    };
    std::filesystem::remove(rotated(limits_.keep_rotated), ignored);
    for (int number = limits_.keep_rotated - 1; number >= 1; --number) {
        std::filesystem::rename(rotated(number), rotated(number + 1), ignored);
    }
    // If this fails the journal just grows on; nothing is lost.
    std::filesystem::rename(path_, rotated(1), ignored);
}

// Writes the queue in order, stopping at the first failure. Returns the change to announce, if
// the journal's state changed.
std::optional<JournalSink::Change> JournalSink::drain_locked() {
    const bool was_writable = last_write_ok_;
    while (!queue_.empty()) {
        if (auto failure = write_line_locked(queue_.front())) {
            last_write_ok_ = false;
            last_error_ = std::move(failure);
            break;
        }
        queue_.pop_front();
        last_write_ok_ = true;
    }
    if (was_writable == last_write_ok_) return std::nullopt;
    Change change;
    change.writable = last_write_ok_;
    if (!last_write_ok_) change.failure = last_error_;
    change.queued = queue_.size();
    change.dropped = dropped_;
    return change;
}

void JournalSink::emit(const Event& event) {
    std::optional<Change> change;
    std::function<void(const Change&)> listener;
    try {
        // Invalid UTF-8 (say, in a child's output tail) is replaced rather than failing the record.
        std::string line =
            journal_record(event).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
        std::lock_guard lock(mutex_);
        if (queue_.size() >= limits_.queued_events) {
            queue_.pop_front();  // the oldest goes: what happens now matters most
            ++dropped_;
        }
        queue_.push_back(std::move(line));
        change = drain_locked();
        if (!queue_.empty()) ++failed_writes_;  // this event, last in the queue, is not written yet
        listener = listener_;
    } catch (const std::exception& error) {
        // Only allocation or a lock failure can get here; a sink must not throw.
        std::lock_guard lock(mutex_);
        last_write_ok_ = false;
        ++failed_writes_;
        last_error_ = Failure{std::make_error_code(std::errc::not_enough_memory),
                              std::string("certheal could not record an event in its journal: ") + error.what()};
    }
    // Outside the lock: the listener may write to other sinks, or arm a timer.
    if (change && listener) listener(*change);
}

bool JournalSink::flush_pending() {
    std::optional<Change> change;
    std::function<void(const Change&)> listener;
    bool empty = false;
    {
        std::lock_guard lock(mutex_);
        change = drain_locked();
        empty = queue_.empty();
        listener = listener_;
    }
    if (change && listener) listener(*change);
    return empty;
}

std::size_t JournalSink::pending() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

std::optional<Failure> JournalSink::last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
}

std::size_t JournalSink::failed_writes() const {
    std::lock_guard lock(mutex_);
    return failed_writes_;
}

std::size_t JournalSink::dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
}

bool JournalSink::last_write_ok() const {
    std::lock_guard lock(mutex_);
    return last_write_ok_;
}

std::vector<std::filesystem::path> journal_files(const std::filesystem::path& state_dir) {
    std::vector<std::filesystem::path> files;
    // Regular files only, not followed through a link: a FIFO or a device planted at a
    // journal's name would block or never end a reader.
    const auto is_journal = [](const std::filesystem::path& file) {
        std::error_code ignored;
        return std::filesystem::symlink_status(file, ignored).type() == std::filesystem::file_type::regular;
    };
    for (int number = JournalSink::Limits{}.keep_rotated; number >= 1; --number) {
        const auto rotated = state_dir / ("journal." + std::to_string(number) + ".jsonl");
        if (is_journal(rotated)) files.push_back(rotated);
    }
    const auto current = journal_path(state_dir);
    if (is_journal(current)) files.push_back(current);
    return files;
}

namespace {

// The next line of `in`, at most `limit` bytes of it: a longer line is read to its end and
// reported as too long, without ever holding more than `limit` bytes.
enum class LineRead { line, too_long, end };
LineRead next_line(std::istream& in, std::string& line, std::size_t limit) {
    line.clear();
    bool too_long = false;
    bool any = false;
    for (int c = in.get(); c != std::char_traits<char>::eof(); c = in.get()) {
        any = true;
        if (c == '\n') return too_long ? LineRead::too_long : LineRead::line;
        if (line.size() < limit) {
            line.push_back(static_cast<char>(c));
        } else {
            too_long = true;
        }
    }
    if (!any) return LineRead::end;
    return too_long ? LineRead::too_long : LineRead::line;
}

}  // namespace

namespace {

// Hands one line to `visit` when it is a journal record at or after `since`. False when the
// line is not a record (a line cut short by a crash, damage, a hostile file).
bool deliver_line(std::string& line, const std::optional<TimePoint>& since,
                  const std::function<void(nlohmann::json&&)>& visit) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) return true;
    auto parsed = parse_json_bounded(line);
    if (!parsed.value || !parsed.value->is_object()) return false;
    if (since) {
        const auto time = parse_time_utc(string_field(*parsed.value, "time"));
        if (!time || *time < *since) return true;
    }
    visit(std::move(*parsed.value));
    return true;
}

std::string skipped_sentence(std::size_t corrupt, const std::filesystem::path& path, std::string_view where) {
    return "Skipped " + std::to_string(corrupt) + (corrupt == 1 ? " line" : " lines") + " of " + path.string() +
           " that " + (corrupt == 1 ? "is" : "are") + " not a journal record (" + std::string(where) +
           "); the rest of the journal was read.";
}

}  // namespace

void visit_journal(const std::filesystem::path& path, std::optional<TimePoint> since,
                   const std::function<void(nlohmann::json&&)>& visit, std::string* warnings) {
    std::ifstream in(path, std::ios::in | std::ios::binary);
    if (!in) return;
    std::string line;
    std::size_t line_number = 0, corrupt = 0, first_corrupt_line = 0;
    for (LineRead read = next_line(in, line, kMaxJournalLine); read != LineRead::end;
         read = next_line(in, line, kMaxJournalLine)) {
        ++line_number;
        if (read == LineRead::too_long || !deliver_line(line, since, visit)) {
            if (corrupt++ == 0) first_corrupt_line = line_number;
        }
    }
    if (corrupt > 0 && warnings) {
        *warnings = skipped_sentence(corrupt, path, "first at line " + std::to_string(first_corrupt_line));
    }
}

JournalTail::JournalTail(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}

namespace {

// Only a regular file is read: a FIFO planted at a journal name would make the read wait
// forever for a writer, and a link may point anywhere.
bool is_plain_file(const std::filesystem::path& file) {
    std::error_code ignored;
    return std::filesystem::symlink_status(file, ignored).type() == std::filesystem::file_type::regular;
}

// The first `length` bytes of a file, or fewer when it is shorter or cannot be read.
std::string file_start(const std::filesystem::path& file, std::size_t length) {
    if (!is_plain_file(file)) return {};
    std::ifstream in(file, std::ios::in | std::ios::binary);
    std::string bytes(length, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(length));
    bytes.resize(in ? length : static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    return bytes;
}

// How much of the first line identifies a file: its time to the millisecond and its event.
constexpr std::size_t kIdentifyingBytes = 128;

struct TailRead {
    std::size_t corrupt = 0;
};

// Reads whole lines of `file` from `offset` on, moving `offset` past each; a last line without
// its newline is left for the next read (unless it is already too long to keep).
template <class Position>
TailRead read_lines_from(const std::filesystem::path& file, Position& position, const std::optional<TimePoint>& since,
                         const std::function<void(nlohmann::json&&)>& visit) {
    TailRead result;
    if (!is_plain_file(file)) return result;
    std::ifstream in(file, std::ios::in | std::ios::binary);
    if (!in) return result;
    in.seekg(static_cast<std::streamoff>(position.offset));
    if (!in) return result;
    std::string line;
    std::uintmax_t consumed = position.offset;  // through the end of the last whole line
    std::uintmax_t read_so_far = position.offset;
    std::vector<char> chunk(std::size_t{64} * 1024);
    while (in) {
        in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        const auto got = static_cast<std::size_t>(in.gcount());
        if (got == 0) break;
        for (std::size_t index = 0; index < got; ++index) {
            const char c = chunk[index];
            ++read_so_far;
            if (c == '\n') {
                const bool first = consumed == 0;
                if (position.in_long_line) {
                    position.in_long_line = false;
                } else if (!deliver_line(line, since, visit)) {
                    ++result.corrupt;
                }
                if (first && position.first_line.empty()) {
                    position.first_line = file_start(file, std::min<std::size_t>(
                                                               kIdentifyingBytes, static_cast<std::size_t>(read_so_far)));
                }
                line.clear();
                consumed = read_so_far;
                continue;
            }
            if (position.in_long_line) continue;
            if (line.size() >= kMaxJournalLine) {
                position.in_long_line = true;
                ++result.corrupt;
                line.clear();
                continue;
            }
            line.push_back(c);
        }
    }
    // Inside an over-long line, what was read of it is dropped for good; otherwise the
    // unfinished line is read again, whole, once its newline is there.
    position.offset = position.in_long_line ? read_so_far : consumed;
    return result;
}

}  // namespace

bool JournalTail::still_reading(const std::filesystem::path& file) const {
    std::error_code error;
    const auto size = std::filesystem::file_size(file, error);
    if (error || size < position_.offset) return false;
    return position_.first_line.empty() || file_start(file, position_.first_line.size()) == position_.first_line;
}

void JournalTail::read_new(std::optional<TimePoint> since, const std::function<void(nlohmann::json&&)>& visit,
                           std::string* warnings) {
    const auto current = journal_path(state_dir_);
    std::size_t corrupt = 0;
    if (position_.offset > 0 && !still_reading(current)) {
        // Rotated (or emptied by hand): what was appended to our file before it moved on is in
        // journal.1.jsonl, if that is still our file.
        const auto rotated = state_dir_ / "journal.1.jsonl";
        if (!position_.first_line.empty() &&
            file_start(rotated, position_.first_line.size()) == position_.first_line) {
            corrupt += read_lines_from(rotated, position_, since, visit).corrupt;
        }
        position_ = Position{};
    }
    corrupt += read_lines_from(current, position_, since, visit).corrupt;
    if (corrupt > 0 && warnings) *warnings = skipped_sentence(corrupt, current, "while following it");
}

std::vector<nlohmann::json> read_journal(const std::filesystem::path& path, std::optional<TimePoint> since,
                                         std::string* warnings) {
    std::vector<nlohmann::json> records;
    visit_journal(path, since, [&records](nlohmann::json&& record) { records.push_back(std::move(record)); }, warnings);
    return records;
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
