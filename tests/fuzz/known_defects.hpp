#pragma once
// Inputs of the defect classes the fuzzers have already found and that wait for a fix in product
// code. tests/fuzz/README.md lists each one with its reproducer in known-crashes/<harness>/.
//
// The smoke tests (CTest label `fuzz`) run the harnesses with CERTHEAL_FUZZ_SKIP_KNOWN=1, so a
// 45 s run stays green until those fixes land and still fails on anything new. Long runs
// (./scripts/fuzz) and the replay of regressions/ never set it, so the known defects keep being
// reported there. When a fix lands: move its reproducer from known-crashes/ to regressions/,
// and delete its predicate here (and its use in the harness).
//
// Every predicate is iterative and linear: a harness must not recurse over fuzzed data either.

#include <chrono>
#include <cstdlib>
#include <string_view>

#include "core/clock.hpp"

namespace certheal::fuzz {

inline bool skipping_known_defects() {
    static const bool skipping = [] {
        const char* value = std::getenv("CERTHEAL_FUZZ_SKIP_KNOWN");
        return value != nullptr && std::string_view(value) == "1";
    }();
    return skipping;
}

// Known defect: parse_time_utc converts any year 0000-9999 to system_clock's nanoseconds, which
// only reach from 1677-09-21 to 2262-04-11, so the conversion overflows (UBSan: signed integer
// overflow in std::chrono::duration_cast). Whole years that are safe, with a margin for the
// hours the repair policy adds to a time it read.
inline bool year_outside_clock_range(std::string_view time_text) {
    if (time_text.size() < 4) return false;
    int year = 0;
    for (char c : time_text.substr(0, 4)) {
        if (c < '0' || c > '9') return false;
        year = year * 10 + (c - '0');
    }
    return year < 1678 || year > 2261;
}

// Known defect: parse_duration accepts up to 2^62 ms, but certheal adds durations to
// system_clock times (nanoseconds, about 292 years either side of 1970): anything longer than
// ~200 years overflows there (UBSan: signed integer overflow in std::chrono).
inline bool duration_beyond_clock_range(Duration duration) {
    constexpr auto kLongestUsable = std::chrono::duration_cast<Duration>(std::chrono::years(200));
    return duration > kLongestUsable;
}

// Known defect: nlohmann::json::dump() recurses once per nesting level (config validation's
// show(), `certheal history --json`), so a deeply nested value overflows the stack. Counts
// brackets outside strings; an upper bound of the depth the parser would build.
inline bool nested_deeper_than(std::string_view text, std::size_t limit) {
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '[' || c == '{') {
            if (++depth > limit) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

// Known defect: libstdc++'s std::regex compiler reads a repeat count ("a{N}", "a{1,N}") into a
// long without an overflow check (UBSan: signed integer overflow in _Compiler::_M_cur_int_value),
// and config validation compiles every rejection_pattern. 18 digits may already overflow.
inline bool has_regex_count_beyond_long(std::string_view text) {
    std::size_t digits = 0;
    bool after_brace_or_comma = false;
    for (char c : text) {
        if (c >= '0' && c <= '9') {
            if (after_brace_or_comma && ++digits >= 18) return true;
            continue;
        }
        after_brace_or_comma = c == '{' || c == ',';
        digits = 0;
    }
    return false;
}

// Known defect: the std::regex compiler recurses once per group, so a rejection_pattern with
// thousands of nested "(" overflows the stack while config validation compiles it. Counting
// every "(" is an upper bound of the nesting.
inline bool has_many_regex_groups(std::string_view text, std::size_t limit) {
    std::size_t groups = 0;
    for (char c : text) {
        if (c == '(' && ++groups > limit) return true;
    }
    return false;
}

}  // namespace certheal::fuzz
