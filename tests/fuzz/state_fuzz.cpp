// libFuzzer harness: <state_dir>/state.json, the repair history the policy persists, as a crash,
// a full disk or an attacker leaves it. load() must read any contents (a corrupt state becomes a
// warning and a fresh history), the policy must then decide one repair and record its end, and
// what it saves must load again without a warning.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/journal.hpp"
#include "core/time_format.hpp"
#include "core/repair_policy.hpp"
#include "known_defects.hpp"

namespace {

using certheal::Duration;
using certheal::TimePoint;

// 2026-11-24T22:00:00Z, as the unit tests' FakeClock. Nothing here waits on a timer.
class FixedClock final : public certheal::Clock {
public:
    TimePoint now() const override { return kNow; }
    certheal::MonotonicTime monotonic_now() const override { return certheal::MonotonicTime{}; }
    std::unique_ptr<certheal::TimerHandle> after(Duration, std::function<void()>) override {
        return std::make_unique<NoTimer>();
    }

    static inline const TimePoint kNow{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} +
                                       std::chrono::hours{22}};

private:
    class NoTimer final : public certheal::TimerHandle {
    public:
        void cancel() override {}
    };
};

class MemoryState final : public certheal::StateStore {
public:
    explicit MemoryState(std::string contents) : contents_(std::move(contents)) {}
    certheal::Result<std::optional<std::string>> load() override { return contents_; }
    certheal::Result<certheal::Done> save(const std::string& contents) override {
        contents_ = contents;
        return certheal::Done{};
    }

private:
    std::optional<std::string> contents_;
};

// Every event is formatted as the journal would write it, then dropped.
class DiscardingSink final : public certheal::EventSink {
public:
    void emit(const certheal::Event& event) override {
        (void)certheal::journal_record(event).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    }
};

// The known defects load() runs into (see known_defects.hpp): a time outside system_clock's
// range, and a "version" that is a number beyond int (nlohmann's value<int>() then converts a
// double out of range: UBSan float-cast-overflow). Checks only the fields load() reads, in their
// fixed places: no walk over the document.
bool has_known_defect(std::string_view text) {
    const auto state = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!state.is_object()) return false;
    if (const auto version = state.find("version"); version != state.end() && version->is_number_float()) {
        const double value = version->get<double>();
        if (!(value > std::numeric_limits<int>::min() - 1.0 && value < std::numeric_limits<int>::max() + 1.0)) {
            return true;
        }
    }
    const auto outside = [](const nlohmann::json& value) {
        return value.is_string() && certheal::fuzz::year_outside_clock_range(value.get_ref<const std::string&>());
    };
    if (const auto attempts = state.find("attempts"); attempts != state.end() && attempts->is_array()) {
        for (const auto& attempt : *attempts) {
            if (outside(attempt)) return true;
        }
    }
    if (const auto end = state.find("last_repair_end"); end != state.end() && outside(*end)) return true;
    if (const auto circuit = state.find("circuit"); circuit != state.end() && circuit->is_object()) {
        if (const auto opened = circuit->find("opened_at"); opened != circuit->end() && outside(*opened)) return true;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (certheal::fuzz::skipping_known_defects() && has_known_defect(text)) return -1;

    const certheal::RemediationConfig policy;  // the defaults: 3 repairs per hour, 10m cooldown, 6h circuit
    FixedClock clock;
    MemoryState store{std::string(text)};
    DiscardingSink events;

    certheal::RepairPolicy remediator(policy, clock, store, events);
    (void)remediator.load();
    (void)remediator.next_allowed();
    (void)remediator.attempts_in_window();
    const auto decision = remediator.request("20261124T220000-1");
    if (decision.allowed()) remediator.finished("20261124T220000-1", /*succeeded=*/false);

    // What certheal saved, it must read back as it is.
    certheal::RepairPolicy restarted(policy, clock, store, events);
    if (const auto warning = restarted.load()) {
        std::fprintf(stderr, "state_fuzz: the state certheal saved does not load again: %s\n", warning->c_str());
        std::abort();
    }
    return 0;
}
