#pragma once
// Folding of repeated events: a site that flaps (healthy, failing, healthy...) all day would
// otherwise write the same few events over and over, to the journal, syslog and the Event Log
// alike (27 KB/s for a constantly flapping site set: 50 MB of journal held 30 minutes).
//
// The rule, per site, for the events a probe result causes (probe_failed, probe_recovered,
// symptom_confirmed, site_recovered, repair_skipped), keyed by event, site and class:
// - the first event of a key is written at once, and opens a window of `window`;
// - the same key again within the window is not written but counted and held (the latest);
// - when the window ends, the held events of the site are written, oldest first, each with
//   `folded`: how many identical events before it were not written, and a new window opens,
//   twice as long (up to `longest_window`) since the last one had to fold; a window that ends
//   with nothing folded brings the key back to `window`;
// - an event of the site that is never folded (repair_started, ...) writes the site's held
//   events first, and service_stopped writes every held event, so nothing is lost and the
//   journal's order within a site stays the order things happened.
// So a constantly flapping site writes each of its keys about once an hour, and its last line is
// its latest state. The monitor already writes probe_failed for a class that is not a symptom
// only when the class changes (and probe_recovered when the run ends): together, the journal
// holds the first of everything and every change, at most once per window per kind, and the
// metrics (certheal_probe_class_total) count every probe.
//
// Single-threaded: emit() on the monitor's thread (its timers run there).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/base/clock.hpp"
#include "core/model/events.hpp"

namespace certheal {

struct FoldingLimits {
    Duration window = std::chrono::minutes(10);
    Duration longest_window = std::chrono::hours(1);
};

class FoldingSink : public EventSink {
public:
    FoldingSink(EventSink& next, Clock& clock, FoldingLimits limits = {});
    ~FoldingSink() override;
    FoldingSink(const FoldingSink&) = delete;
    FoldingSink& operator=(const FoldingSink&) = delete;

    void emit(const Event& event) override;
    // Writes every held event now (each with its folded count).
    void flush();

    // Events not written separately so far (each is counted in a later event's `folded`).
    std::uint64_t folded_total() const noexcept { return folded_total_; }

    // Whether `event` is one that may be folded (it has a site and comes from probing).
    static bool foldable(const Event& event) noexcept;

private:
    using Key = std::pair<int, std::string>;  // event id, class
    struct Slot {
        MonotonicTime window_start{};
        Duration window{};
        std::optional<Event> held;  // the latest folded event, written when the window ends
        std::uint64_t folded = 0;   // events of this window not written, `held` included
        std::optional<TimePoint> first_folded_at;
    };
    struct Site {
        std::map<Key, Slot> slots;
        std::unique_ptr<TimerHandle> timer;
        MonotonicTime due{};
    };

    void write(Event event, std::uint64_t folded, std::optional<TimePoint> since);
    Duration next_window(const Slot& slot, bool folded) const;
    void flush_site(Site& site);
    void arm(const std::string& name, Site& site, MonotonicTime due);

    EventSink& next_;
    Clock& clock_;
    FoldingLimits limits_;
    std::map<std::string, Site> sites_;
    std::uint64_t folded_total_ = 0;
};

}  // namespace certheal
