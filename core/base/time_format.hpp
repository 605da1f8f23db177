#pragma once
// How certheal writes times and incident ids: in the journal, events, state and messages.

#include <optional>
#include <string>
#include <string_view>

#include "core/base/clock.hpp"

namespace certheal {

// "2026-11-24T22:31:05.123Z": UTC, millisecond precision (sub-millisecond time is truncated).
// The one format of every time a person reads: the journal, history, status, the console and
// the sentences of events (docs/journal.md).
std::string format_time_utc(TimePoint time);

// Reads back "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (the fraction may have any number of digits;
// beyond milliseconds it is truncated). Anything else, including a missing 'Z' or a year
// outside 1970-2200, is nullopt.
std::optional<TimePoint> parse_time_utc(std::string_view text);

// An RFC 3339 time as an admin types it on the command line: "2026-12-01T00:00Z",
// "2026-12-01 08:30:15.5+01:00", or a date alone ("2026-12-01", midnight UTC). Seconds and
// their fraction are optional; a time of day needs its zone ('Z' or an offset): certheal says
// every time in UTC and will not guess a local one. Years outside 1970-2200 are nullopt.
std::optional<TimePoint> parse_time_rfc3339(std::string_view text);

// "20261124T223105-1": the UTC second the incident began and a per-process sequence number,
// so ids sort by time and stay unique when two incidents start within one second.
std::string make_incident_id(TimePoint started, int sequence);

}  // namespace certheal
