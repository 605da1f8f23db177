#pragma once
// A site's rejection_pattern, compiled once and searched with a bound on the work. The page it
// is searched in comes from the site and the pattern from an admin, so neither may make one
// classification slow: the search is one forward pass over the first kSearchedBytes of the page
// (PCRE2's DFA matcher, anchored behind a leading `(?s:.*?)`), which keeps every partial match
// alive at once instead of backtracking, and gives up when more than kMaxLiveMatches are alive.
// The work of one search is therefore at most proportional to kSearchedBytes x
// kMaxLiveMatches^2, whatever the pattern and the page (about 0.1 s at the very worst, well
// under a millisecond for real patterns).
//
// The backtracking matcher could not be bounded that way: PCRE2 counts its match limit per
// start position (10.42: match_call_count is reset for each one), so a 9-character pattern
// over a 64 KiB page ran for minutes. Constructs that a single pass cannot search, or only by
// searching again from every position (back-references, lookarounds, atomic groups, recursion,
// conditions, callouts, backtracking verbs), are refused when the pattern is compiled, i.e.
// by check-config.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/result.hpp"

namespace certheal {

class RejectionPattern {
public:
    // The bytes of a body that are searched (what the prober keeps of a body).
    static constexpr std::size_t kSearchedBytes = std::size_t{64} * 1024;
    // The longest pattern certheal accepts: far beyond "403\.7|client certificate required".
    static constexpr std::size_t kMaxPatternLength = 1024;
    // Partial matches a search keeps alive at one position of the page. Real patterns need a
    // handful; `.{0,200}` after a word that repeats on the page needs hundreds.
    static constexpr std::size_t kMaxLiveMatches = 64;

    // Perl syntax (PCRE2) without the constructs above. A Failure's message is a clause saying
    // what is wrong with it ("missing closing parenthesis at character 4").
    static Result<std::shared_ptr<const RejectionPattern>> compile(std::string_view pattern);

    // The default "403\.7", made to not match 403.70, 403.71, ... (IIS's other sub-statuses).
    static std::shared_ptr<const RejectionPattern> default_pattern();

    enum class Outcome {
        found,
        not_found,
        over_limit,  // the search gave up (more live matches than allowed): treated as not found
    };
    // Searches the first kSearchedBytes of `body`.
    Outcome search(std::string_view body) const noexcept;
    bool found_in(std::string_view body) const noexcept { return search(body) == Outcome::found; }

    // True the first time it is called after a search went over the limit, false ever after:
    // the caller says it once per compiled pattern, not on every probe.
    bool claim_over_limit_report() const noexcept;
    // What went over the limit, as a clause: "more than 64 partial matches were alive at once".
    static std::string over_limit_clause();

    const std::string& text() const noexcept { return text_; }

    struct Compiled;  // the engine's object, kept out of this header

private:
    RejectionPattern(std::string text, std::shared_ptr<const Compiled> compiled);
    std::string text_;
    std::shared_ptr<const Compiled> compiled_;
    mutable std::atomic<bool> went_over_limit_{false};
    mutable std::atomic<bool> over_limit_reported_{false};
};

}  // namespace certheal
