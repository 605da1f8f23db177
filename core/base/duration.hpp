#pragma once
// Durations as admins write them in the config ("500ms", "30s", "10m", "1h", "1m30s") and as
// certheal says them back in its messages.

#include <optional>
#include <string>
#include <string_view>

#include "core/base/clock.hpp"

namespace certheal {

// The longest duration certheal takes anywhere: a hundred years. Every time certheal computes
// (now plus a duration, in nanoseconds) stays far inside what its clocks can hold; 2^62 ms
// overflowed them.
inline constexpr Duration kLongestDuration = std::chrono::hours(24 * 365 * 100);

// "1m30s" -> 90000 ms; nullopt for anything malformed, negative, without a unit, or longer
// than kLongestDuration.
std::optional<Duration> parse_duration(std::string_view text);
std::string format_duration(Duration duration);  // 90000 ms -> "1m30s"

// How long something took, as people read it (docs/journal.md): "350 ms" below a second,
// "1.2 s" (tenths, rounded down) below a minute, then as a configured duration rounded down to
// the second ("1m30s", "2h5m3s"). Negative durations read as "0 ms".
std::string format_elapsed(Duration duration);

}  // namespace certheal
