#pragma once
// The monitor's live status as a document: what the service writes to <state_dir>/status.json
// (atomically, whenever it changes) and what `certheal status` reads back and prints.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/policy/monitor.hpp"

namespace certheal {

inline constexpr int kStatusVersion = 1;

// The "remediation" object of status.json: {"enabled", "dry_run", "mode", "paused", and while
// the host is paused "paused_since", "paused_until" (null: until certheal unpause), "paused_by",
// "paused_reason"}, mode being "enabled", "dry_run", "disabled" or "paused" (the
// certheal_remediation_mode metric's values).
nlohmann::json remediation_document(bool enabled, bool dry_run,
                                    const std::optional<RepairPolicy::Pause>& host_pause = std::nullopt);

// A pause as status.json shows it: {"since", "until", "by", "reason"}.
nlohmann::json pause_document(const RepairPolicy::Pause& pause);

// {"version", "generated_at", "pid", "remediation": {...}, "policy": {...}, "sites": [...]}: times
// in UTC (format_time_utc) or null, see docs/monitoring/README.md for every field.
nlohmann::json status_document(const MonitorStatus& status, long long pid);

// The same document as text, one site per line, built a site at a time: with thousands of
// sites the whole tree would cost megabytes of small allocations that the heap keeps.
std::string status_document_text(const MonitorStatus& status, long long pid);

// When the service rewrites status.json and the metrics textfile. With 1000 sites something
// changes every second (a probe's counters and times), and rewriting both files each time cost
// 0.5 MiB/s of writes. So: a significant change (a class, an incident, a repair, the policy,
// the configuration) is written `settle` after it, but never sooner than `min_gap` after the
// last write; routine changes alone (counters, probe times) at most every `routine_gap`; and
// nothing at all while nothing changes.
struct StatusWriteLimits {
    Duration settle = std::chrono::seconds(1);
    Duration min_gap = std::chrono::seconds(5);
    Duration routine_gap = std::chrono::seconds(60);
};

class StatusWriteSchedule {
public:
    StatusWriteSchedule(Clock& clock, std::function<void()> write, StatusWriteLimits limits = {});

    void changed(StatusChange change);
    // Drops a write that is waiting (the service is stopping and writes its last status itself).
    void cancel();
    std::uint64_t writes() const noexcept { return writes_; }

private:
    void write_now();

    Clock& clock_;
    std::function<void()> write_;
    StatusWriteLimits limits_;
    std::optional<MonotonicTime> last_write_;
    std::optional<MonotonicTime> due_;
    std::unique_ptr<TimerHandle> timer_;
    std::uint64_t writes_ = 0;
};


}  // namespace certheal
