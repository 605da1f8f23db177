#pragma once
// Durations as admins write them in the config ("500ms", "30s", "10m", "1h", "1m30s") and as
// certheal says them back in its messages.

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace certheal {

// "1m30s" -> 90000 ms; nullopt for anything malformed, negative or without a unit.
std::optional<Duration> parse_duration(std::string_view text);
std::string format_duration(Duration duration);  // 90000 ms -> "1m30s"

}  // namespace certheal
