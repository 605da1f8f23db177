#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace std::chrono_literals;
using certheal::Duration;
using certheal::format_duration;
using certheal::parse_duration;

TEST_CASE("durations with a unit parse to milliseconds", "[duration]") {
    struct Case {
        const char* text;
        Duration expected;
    };
    const auto [text, expected] = GENERATE(values<Case>({
        {"250ms", 250ms},
        {"30s", 30s},
        {"10m", 10min},
        {"6h", 6h},
        {"1m30s", 90s},
        {"1h2m3s4ms", 1h + 2min + 3s + 4ms},
        {"0s", 0ms},
        {"90s", 90s},
        {"007s", 7s},
    }));
    CAPTURE(text);
    const auto parsed = parse_duration(text);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == expected);
}

TEST_CASE("durations without a unit, with a sign, a fraction or an unknown unit are rejected", "[duration]") {
    const char* text = GENERATE("", "30", "-5s", "+5s", "1.5s", "5 s", " 5s", "5s ", "5sec", "5d", "s", "ms",
                                "30s1m", "1m1m", "5S", "1m30", "99999999999999999999h", "5ms5s");
    CAPTURE(text);
    CHECK_FALSE(parse_duration(text).has_value());
}

TEST_CASE("durations format as the largest units that divide them", "[duration]") {
    struct Case {
        Duration value;
        const char* expected;
    };
    const auto [value, expected] = GENERATE(values<Case>({
        {0ms, "0s"},
        {250ms, "250ms"},
        {90s, "1m30s"},
        {1h, "1h"},
        {1h + 1ms, "1h1ms"},
        {1500ms, "1s500ms"},
        {-30s, "-30s"},
    }));
    CHECK(format_duration(value) == expected);
}

TEST_CASE("a formatted duration parses back to the same value", "[duration]") {
    const Duration value = GENERATE(Duration(1), Duration(999), Duration(61'001), Duration(3'723'004), Duration(86'400'000));
    CHECK(parse_duration(format_duration(value)) == value);
}
