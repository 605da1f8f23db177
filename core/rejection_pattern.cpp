#include "core/rejection_pattern.hpp"

#include <system_error>

#include <boost/regex.hpp>

namespace certheal {

struct RejectionPattern::Compiled {
    boost::regex regex;
};

namespace {

constexpr std::string_view kDefaultText = "403\\.7";
// The digit after the 7 is excluded: 403.70 and 403.71 are other IIS sub-statuses.
constexpr std::string_view kGuardedDefault = "403\\.7(?![0-9])";

Failure bad_pattern(std::string message) {
    return Failure{std::make_error_code(std::errc::invalid_argument), std::move(message)};
}

}  // namespace

RejectionPattern::RejectionPattern(std::string text, std::shared_ptr<const Compiled> compiled)
    : text_(std::move(text)), compiled_(std::move(compiled)) {}

Result<std::shared_ptr<const RejectionPattern>> RejectionPattern::compile(std::string_view pattern) {
    if (pattern.empty()) return bad_pattern("a rejection pattern must not be empty");
    if (pattern.size() > kMaxPatternLength) {
        return bad_pattern("a rejection pattern may be at most " + std::to_string(kMaxPatternLength) +
                           " characters long, this one has " + std::to_string(pattern.size()));
    }
    if (pattern == kDefaultText) return default_pattern();
    try {
        auto compiled = std::make_shared<Compiled>(
            Compiled{boost::regex(pattern.begin(), pattern.end(), boost::regex::ECMAScript)});
        return std::shared_ptr<const RejectionPattern>(new RejectionPattern(std::string(pattern), std::move(compiled)));
    } catch (const boost::regex_error& error) {
        return bad_pattern(std::string("it is not a valid regular expression: ") + error.what());
    } catch (const std::exception& error) {
        return bad_pattern(std::string("certheal could not compile it: ") + error.what());
    }
}

std::shared_ptr<const RejectionPattern> RejectionPattern::default_pattern() {
    static const std::shared_ptr<const RejectionPattern> pattern(new RejectionPattern(
        std::string(kDefaultText),
        std::make_shared<Compiled>(Compiled{boost::regex(kGuardedDefault.begin(), kGuardedDefault.end(),
                                                         boost::regex::ECMAScript)})));
    return pattern;
}

bool RejectionPattern::found_in(std::string_view body) const noexcept {
    const std::string_view searched = body.substr(0, std::min(body.size(), kSearchedBytes));
    try {
        return boost::regex_search(searched.begin(), searched.end(), compiled_->regex);
    } catch (...) {
        // The engine gave up: the pattern needs more work than a probe may spend on a page the
        // site controls. Not a match; check-config warns about such patterns.
        return false;
    }
}

}  // namespace certheal
