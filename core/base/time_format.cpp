#include "core/base/time_format.hpp"

#include <chrono>
#include <cstdio>

namespace certheal {
namespace {

using namespace std::chrono;

constexpr int kEarliestYear = 1970;
constexpr int kLatestYear = 2200;

struct CivilTime {
    int year;
    unsigned month, day, hour, minute, second, millisecond;
};

CivilTime to_civil(TimePoint time) {
    const auto in_ms = floor<milliseconds>(time);
    const auto day = floor<days>(in_ms);
    const year_month_day date{day};
    const hh_mm_ss clock{in_ms - day};
    return {static_cast<int>(date.year()), static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
            static_cast<unsigned>(clock.hours().count()), static_cast<unsigned>(clock.minutes().count()),
            static_cast<unsigned>(clock.seconds().count()), static_cast<unsigned>(clock.subseconds().count())};
}

// Reads exactly `width` decimal digits at `pos`.
std::optional<int> digits_at(std::string_view text, std::size_t pos, std::size_t width) {
    if (pos + width > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + width; ++i) {
        if (text[i] < '0' || text[i] > '9') return std::nullopt;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

}  // namespace

std::string format_time_utc(TimePoint time) {
    const auto civil = to_civil(time);
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", civil.year, civil.month, civil.day,
                  civil.hour, civil.minute, civil.second, civil.millisecond);
    return buffer;
}

std::optional<TimePoint> parse_time_utc(std::string_view text) {
    // Fixed layout: YYYY-MM-DDTHH:MM:SS, then an optional fraction, then 'Z'.
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
        text[13] != ':' || text[16] != ':')
        return std::nullopt;
    const auto y = digits_at(text, 0, 4), mo = digits_at(text, 5, 2), d = digits_at(text, 8, 2);
    const auto h = digits_at(text, 11, 2), mi = digits_at(text, 14, 2), s = digits_at(text, 17, 2);
    if (!y || !mo || !d || !h || !mi || !s || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
    // certheal's clocks count nanoseconds in 64 bits (1678 to 2262); a date outside the years
    // certheal can have written is no time of its own, and is refused before it can overflow.
    if (*y < kEarliestYear || *y > kLatestYear) return std::nullopt;
    const year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
    if (!date.ok()) return std::nullopt;

    std::size_t pos = 19;
    int millis = 0;
    if (text[pos] == '.') {
        ++pos;
        int fraction_digits = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            if (fraction_digits < 3) millis = millis * 10 + (text[pos] - '0');
            ++fraction_digits;
            ++pos;
        }
        if (fraction_digits == 0) return std::nullopt;
        for (int i = fraction_digits; i < 3; ++i) millis *= 10;
    }
    if (pos + 1 != text.size() || (text[pos] != 'Z' && text[pos] != 'z')) return std::nullopt;

    return TimePoint{duration_cast<TimePoint::duration>(sys_days{date}.time_since_epoch() + hours{*h} +
                                                        minutes{*mi} + seconds{*s} + milliseconds{millis})};
}

std::optional<TimePoint> parse_time_rfc3339(std::string_view text) {
    if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
    const auto y = digits_at(text, 0, 4), mo = digits_at(text, 5, 2), d = digits_at(text, 8, 2);
    if (!y || !mo || !d || *y < kEarliestYear || *y > kLatestYear) return std::nullopt;
    const year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
    if (!date.ok()) return std::nullopt;
    const auto midnight = TimePoint{duration_cast<TimePoint::duration>(sys_days{date}.time_since_epoch())};
    if (text.size() == 10) return midnight;

    const char separator = text[10];
    if (separator != 'T' && separator != 't' && separator != ' ') return std::nullopt;
    const auto h = digits_at(text, 11, 2), mi = digits_at(text, 14, 2);
    if (!h || !mi || text.size() < 16 || text[13] != ':' || *h > 23 || *mi > 59) return std::nullopt;
    std::size_t pos = 16;
    int s = 0;
    milliseconds fraction{0};
    if (pos < text.size() && text[pos] == ':') {
        const auto sec = digits_at(text, pos + 1, 2);
        if (!sec || *sec > 60) return std::nullopt;
        s = *sec;
        pos += 3;
        if (pos < text.size() && text[pos] == '.') {
            ++pos;
            int digits = 0;
            int millis = 0;
            while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
                if (digits < 3) millis = millis * 10 + (text[pos] - '0');
                ++digits;
                ++pos;
            }
            if (digits == 0) return std::nullopt;
            for (int i = digits; i < 3; ++i) millis *= 10;
            fraction = milliseconds{millis};
        }
    }
    if (pos >= text.size()) return std::nullopt;  // a time of day without its zone
    minutes offset{0};
    if (text[pos] == 'Z' || text[pos] == 'z') {
        ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
        const auto oh = digits_at(text, pos + 1, 2), om = digits_at(text, pos + 4, 2);
        if (!oh || !om || pos + 3 >= text.size() || text[pos + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
        offset = hours{*oh} + minutes{*om};
        if (text[pos] == '-') offset = -offset;
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != text.size()) return std::nullopt;
    // A local time with offset +01:00 is one hour ahead of UTC: UTC = local - offset.
    return midnight + duration_cast<TimePoint::duration>(hours{*h} + minutes{*mi} + seconds{s} + fraction - offset);
}

std::string make_incident_id(TimePoint started, int sequence) {
    const auto civil = to_civil(started);
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "%04d%02u%02uT%02u%02u%02u-%d", civil.year, civil.month, civil.day,
                  civil.hour, civil.minute, civil.second, sequence);
    return buffer;
}

}  // namespace certheal
