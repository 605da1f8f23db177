// Durations as admins write them in the config: "500ms", "30s", "10m", "1h", "1m30s".
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "core/base/duration.hpp"

namespace certheal {
namespace {

struct Unit {
    std::string_view suffix;
    std::int64_t milliseconds;
};

// Largest first: a duration lists its parts in this order, each at most once, so that
// "1m30s" has exactly one reading and "30s1m" is a typo worth reporting.
constexpr std::array<Unit, 4> kUnits{{
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 2;
    std::int64_t total = 0;
    std::size_t next_unit = 0;  // index into kUnits of the smallest unit still allowed
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t digits_begin = pos;
        std::int64_t number = 0;
        while (pos < text.size() && is_digit(text[pos])) {
            if (number > kMax / 10) return std::nullopt;
            number = number * 10 + (text[pos] - '0');
            ++pos;
        }
        if (pos == digits_begin) return std::nullopt;  // sign, space, dot or unit without number
        const std::size_t unit_begin = pos;
        while (pos < text.size() && !is_digit(text[pos])) ++pos;
        const std::string_view suffix = text.substr(unit_begin, pos - unit_begin);
        if (suffix.empty()) return std::nullopt;  // a bare number has no unit
        std::size_t unit_index = kUnits.size();
        for (std::size_t i = next_unit; i < kUnits.size(); ++i) {
            if (kUnits[i].suffix == suffix) {
                unit_index = i;
                break;
            }
        }
        if (unit_index == kUnits.size()) return std::nullopt;  // unknown, repeated or out of order
        if (number > (kMax - total) / kUnits[unit_index].milliseconds) return std::nullopt;
        total += number * kUnits[unit_index].milliseconds;
        next_unit = unit_index + 1;
    }
    if (Duration(total) > kLongestDuration) return std::nullopt;
    return Duration(total);
}

std::string format_duration(Duration duration) {
    std::int64_t remaining = duration.count();
    std::string text;
    if (remaining < 0) {
        text = "-";
        remaining = -remaining;
    }
    if (remaining == 0) return "0s";
    for (const Unit& unit : kUnits) {
        const std::int64_t count = remaining / unit.milliseconds;
        if (count == 0) continue;
        text += std::to_string(count);
        text += unit.suffix;
        remaining -= count * unit.milliseconds;
    }
    return text;
}

std::string format_elapsed(Duration duration) {
    const std::int64_t ms = std::max<std::int64_t>(0, duration.count());
    if (ms < 1000) return std::to_string(ms) + " ms";
    if (ms < 60'000) return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + " s";
    return format_duration(Duration(ms - ms % 1000));
}

}  // namespace certheal
