#pragma once
// Reading the command line against command_table(): the options, or the sentence that says what
// is wrong with it and what was likely meant.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/clock.hpp"
#include "service/options.hpp"

namespace certheal::cli {

struct ParseOutcome {
    std::optional<Options> options;
    std::string error;  // a sentence for stderr when options is empty
    std::string usage;  // printed after the error: the command's usage line, or the command list
};

ParseOutcome parse_arguments(const std::vector<std::string>& args);

// Edit distance for "did you mean": insert, delete, substitute and swap two neighbours cost 1
// each (optimal string alignment).
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidates a typo most likely meant: the nearest within a distance that grows with the
// word's length (1 up to 4 characters, 2 up to 8, then 3; leading dashes do not count), a
// candidate the word begins (3 characters or more) counting as 1. All that are equally near,
// in the candidates' order; none when nothing is near enough.
std::vector<std::string> closest_matches(std::string_view word, const std::vector<std::string>& candidates);
// " Did you mean 'a'?" or " Did you mean 'a' or 'b'?"; empty when nothing is near.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// A span with days allowed: "7d", "1d12h", "90m", "2h30m" (at most 100 years); nullopt when it
// is not one. `pause --for` and `history --since` read it.
std::optional<Duration> parse_span(std::string_view text);

// `history --since`: "30m", "24h", "7d", "1d12h" back from `now`, or an RFC 3339 time
// ("2026-12-01T00:00Z", "2026-12-01" for midnight UTC). nullopt when it is neither.
std::optional<TimePoint> parse_since(std::string_view text, TimePoint now);

}  // namespace certheal::cli
