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
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/record/journal.hpp"
#include "core/base/time_format.hpp"
#include "core/policy/repair_policy.hpp"

namespace {

using certheal::Duration;
using certheal::TimePoint;

// 2026-11-24T22:00:00Z, as the unit tests' FakeClock. Nothing here waits on a timer.
class FixedClock final : public certheal::Clock {
public:
    TimePoint wall_now() const override { return kNow; }
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
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
