#include "core/record/event_folding.hpp"

#include <algorithm>
#include <vector>

#include "core/base/time_format.hpp"

namespace certheal {
namespace {

std::string class_of(const Event& event) {
    if (!event.details.is_object()) return {};
    if (const auto found = event.details.find("class"); found != event.details.end() && found->is_string()) {
        return found->get<std::string>();
    }
    // repair_skipped carries the probe that confirmed the symptom as its evidence.
    if (const auto evidence = event.details.find("evidence");
        evidence != event.details.end() && evidence->is_object()) {
        if (const auto found = evidence->find("class"); found != evidence->end() && found->is_string()) {
            return found->get<std::string>();
        }
    }
    return {};
}

}  // namespace

FoldingSink::FoldingSink(EventSink& next, Clock& clock, FoldingLimits limits)
    : next_(next), clock_(clock), limits_(limits) {}

FoldingSink::~FoldingSink() = default;

bool FoldingSink::foldable(const Event& event) noexcept {
    if (event.site.empty()) return false;
    switch (event.id) {
        case EventId::probe_failed:
        case EventId::probe_recovered:
        case EventId::symptom_confirmed:
        case EventId::site_recovered:
        case EventId::repair_skipped:
            return true;
        default:
            return false;
    }
}

void FoldingSink::emit(const Event& event) {
    if (!foldable(event)) {
        // What happens next to the site (a repair) follows what was held for it; at the end,
        // everything held is written before the last word.
        if (!event.site.empty()) {
            if (const auto found = sites_.find(event.site); found != sites_.end()) flush_site(found->second);
        } else if (event.id == EventId::service_stopped) {
            flush();
        }
        next_.emit(event);
        return;
    }
    const auto now = clock_.monotonic_now();
    auto& site = sites_[event.site];
    auto [found, inserted] = site.slots.try_emplace(Key{static_cast<int>(event.id), class_of(event)});
    auto& slot = found->second;
    if (inserted || now >= slot.window_start + slot.window) {
        // A new window opens with this event, written at once; what the last one held (a timer
        // that has not fired yet) is folded into it.
        const auto folded = slot.folded;
        const auto since = slot.first_folded_at;
        slot = Slot{now, next_window(slot, folded > 0), std::nullopt, 0, std::nullopt};
        write(event, folded, since);
        return;
    }
    ++slot.folded;
    slot.held = event;
    if (!slot.first_folded_at) slot.first_folded_at = event.time;
    arm(event.site, site, slot.window_start + slot.window);
}

void FoldingSink::write(Event event, std::uint64_t folded, std::optional<TimePoint> since) {
    if (folded > 0 && event.details.is_object()) {
        folded_total_ += folded;
        event.details["folded"] = folded;
        if (since) event.details["folded_since"] = format_time_utc(*since);
        // The count and the time are fields; the sentence only says that there were more.
        event.message += " (" + std::to_string(folded) + " more folded into this one.)";
    }
    next_.emit(event);
}

void FoldingSink::flush_site(Site& site) {
    site.timer.reset();
    std::vector<Slot*> held;
    for (auto& [key, slot] : site.slots) {
        if (slot.held) held.push_back(&slot);
    }
    // In the order they happened, so the site's last line is its latest state.
    std::stable_sort(held.begin(), held.end(), [](const Slot* a, const Slot* b) { return a->held->time < b->held->time; });
    const auto now = clock_.monotonic_now();
    for (Slot* slot : held) {
        auto event = std::move(*slot->held);
        const auto folded = slot->folded - 1;  // the held one itself is written
        const auto since = slot->first_folded_at;
        *slot = Slot{now, next_window(*slot, folded > 0), std::nullopt, 0, std::nullopt};
        write(std::move(event), folded, folded > 0 ? since : std::nullopt);
    }
}

// Twice as long after a window that had to fold (up to the longest); back to the first length
// after one that did not.
Duration FoldingSink::next_window(const Slot& slot, bool folded) const {
    if (!folded || slot.window <= Duration::zero()) return limits_.window;
    return std::min(slot.window * 2, std::max(limits_.longest_window, limits_.window));
}

void FoldingSink::flush() {
    for (auto& [name, site] : sites_) flush_site(site);
}

void FoldingSink::arm(const std::string& name, Site& site, MonotonicTime due) {
    if (site.timer && site.due <= due) return;
    site.due = due;
    const auto delay = std::chrono::ceil<Duration>(due - clock_.monotonic_now());
    site.timer = clock_.after(std::max(delay, Duration::zero()), [this, name] {
        if (const auto found = sites_.find(name); found != sites_.end()) flush_site(found->second);
    });
}

}  // namespace certheal
