#pragma once
// A site's rejection_pattern, compiled once and searched safely. The body it is searched in
// comes from the site, so nothing here may recurse per character or run unbounded: the engine
// is PCRE2 (Perl/ECMAScript syntax; its matcher keeps its backtracking on the heap, and a
// match limit, a depth limit and a heap limit bound the work of one search, so a search that
// would take too long gives up within milliseconds and counts as "not found"), and only the
// first kSearchedBytes of a body are searched. libstdc++'s std::regex recursed per character
// and overflowed the stack on a 40 KB body with ".*Forbidden"; Boost.Regex's own bound let a
// 60-character pattern search for seconds.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/result.hpp"

namespace certheal {

class RejectionPattern {
public:
    // The bytes of a 403's body that are searched (what the prober keeps of a body).
    static constexpr std::size_t kSearchedBytes = std::size_t{64} * 1024;
    // The longest pattern certheal accepts: far beyond "403\.7|client certificate required".
    static constexpr std::size_t kMaxPatternLength = 1024;

    // Perl/ECMAScript syntax (PCRE2). A Failure's message is a clause saying what is wrong with
    // it ("missing closing parenthesis at character 4").
    static Result<std::shared_ptr<const RejectionPattern>> compile(std::string_view pattern);

    // The default "403\.7", made to not match 403.70, 403.71, ... (IIS's other sub-statuses).
    static std::shared_ptr<const RejectionPattern> default_pattern();

    // Whether the pattern occurs in the first kSearchedBytes of `body`. A search that hits the
    // engine's limits is not a match.
    bool found_in(std::string_view body) const noexcept;

    const std::string& text() const noexcept { return text_; }

    struct Compiled;  // the engine's object, kept out of this header

private:
    RejectionPattern(std::string text, std::shared_ptr<const Compiled> compiled);
    std::string text_;
    std::shared_ptr<const Compiled> compiled_;
};

}  // namespace certheal
