// libFuzzer harness: durations as admins write them ("1m30s"). parse_duration must accept or
// refuse any text without overflow, format_duration must print what it accepted so that it
// reads back the same, and what it accepts must be usable the way certheal uses a duration:
// as a delay or a window from now on system_clock.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace {

// A fixed "now" (as the unit tests' FakeClock), so every run of an input behaves the same.
const certheal::TimePoint kNow{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + std::chrono::hours{22}};

[[noreturn]] void fail(const char* what, std::string_view input, const std::string& detail) {
    std::fprintf(stderr, "duration_fuzz: %s: input \"%.*s\": %s\n", what, static_cast<int>(input.size()),
                 input.data(), detail.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = certheal::parse_duration(text);
    if (!parsed) return 0;
    if (parsed->count() < 0) fail("a negative duration was accepted", text, std::to_string(parsed->count()));

    const std::string formatted = certheal::format_duration(*parsed);
    const auto reparsed = certheal::parse_duration(formatted);
    if (!reparsed || *reparsed != *parsed) {
        fail("format_duration does not read back", text, formatted);
    }

    // What the monitor and the repair policy do with a duration from the config: a deadline
    // (now + interval, cooldown end) and a window start (now - attempt_window).
    volatile auto deadline = (kNow + *parsed).time_since_epoch().count();
    volatile auto window_start = (kNow - *parsed).time_since_epoch().count();
    (void)deadline;
    (void)window_start;
    return 0;
}
