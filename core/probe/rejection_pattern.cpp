#include "core/probe/rejection_pattern.hpp"

#include <array>
#include <system_error>

#include <pcre2.h>

namespace certheal {

namespace {

// The work one search may do: PCRE2 counts its backtracking steps (match limit), the depth of
// its backtracking (depth limit) and the memory it takes for it (heap limit, KiB), over all
// the start positions of a search. A pattern that needs more gives up (not a match) within
// milliseconds instead of backtracking for hours over a page the site controls.
constexpr std::uint32_t kMatchLimit = 1'000'000;
constexpr std::uint32_t kDepthLimit = 10'000;
constexpr std::uint32_t kHeapLimitKiB = 20 * 1024;

constexpr std::string_view kDefaultText = "403\\.7";
// The digit after the 7 is excluded: 403.70 and 403.71 are other IIS sub-statuses.
constexpr std::string_view kGuardedDefault = "403\\.7(?![0-9])";

Failure bad_pattern(std::string message) {
    return Failure{std::make_error_code(std::errc::invalid_argument), std::move(message)};
}

struct CodeFree {
    void operator()(pcre2_code* code) const noexcept { pcre2_code_free(code); }
};
struct MatchContextFree {
    void operator()(pcre2_match_context* context) const noexcept { pcre2_match_context_free(context); }
};
struct MatchDataFree {
    void operator()(pcre2_match_data* data) const noexcept { pcre2_match_data_free(data); }
};

std::string pcre2_message(int code) {
    std::array<PCRE2_UCHAR, 256> text{};
    const int length = pcre2_get_error_message(code, text.data(), text.size());
    if (length < 0) return "PCRE2 error " + std::to_string(code);
    return std::string(reinterpret_cast<const char*>(text.data()), static_cast<std::size_t>(length));
}

}  // namespace

struct RejectionPattern::Compiled {
    std::unique_ptr<pcre2_code, CodeFree> code;
    std::unique_ptr<pcre2_match_context, MatchContextFree> limits;
};

RejectionPattern::RejectionPattern(std::string text, std::shared_ptr<const Compiled> compiled)
    : text_(std::move(text)), compiled_(std::move(compiled)) {}

namespace {

Result<std::shared_ptr<RejectionPattern::Compiled>> compile_pcre2(std::string_view pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    auto compiled = std::make_shared<RejectionPattern::Compiled>();
    compiled->code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &error,
                                       &offset, nullptr));
    if (!compiled->code) {
        return bad_pattern(pcre2_message(error) + " at character " + std::to_string(offset));
    }
    compiled->limits.reset(pcre2_match_context_create(nullptr));
    if (!compiled->limits) return bad_pattern("certheal could not allocate its match limits");
    pcre2_set_match_limit(compiled->limits.get(), kMatchLimit);
    pcre2_set_depth_limit(compiled->limits.get(), kDepthLimit);
    pcre2_set_heap_limit(compiled->limits.get(), kHeapLimitKiB);
    return compiled;
}

}  // namespace

Result<std::shared_ptr<const RejectionPattern>> RejectionPattern::compile(std::string_view pattern) {
    if (pattern.empty()) return bad_pattern("it is empty");
    if (pattern.size() > kMaxPatternLength) {
        return bad_pattern("it has " + std::to_string(pattern.size()) + " characters, and a rejection pattern may have at most " +
                           std::to_string(kMaxPatternLength));
    }
    if (pattern == kDefaultText) return default_pattern();
    auto compiled = compile_pcre2(pattern);
    if (!compiled) return compiled.error();
    return std::shared_ptr<const RejectionPattern>(new RejectionPattern(std::string(pattern), compiled.value()));
}

std::shared_ptr<const RejectionPattern> RejectionPattern::default_pattern() {
    static const std::shared_ptr<const RejectionPattern> pattern = [] {
        auto compiled = compile_pcre2(kGuardedDefault);
        return std::shared_ptr<const RejectionPattern>(
            new RejectionPattern(std::string(kDefaultText), compiled ? compiled.value() : nullptr));
    }();
    return pattern;
}

bool RejectionPattern::found_in(std::string_view body) const noexcept {
    if (!compiled_) return false;
    const std::string_view searched = body.substr(0, std::min(body.size(), kSearchedBytes));
    std::unique_ptr<pcre2_match_data, MatchDataFree> data(
        pcre2_match_data_create_from_pattern(compiled_->code.get(), nullptr));
    if (!data) return false;
    // A negative result is no match, or a search that hit its limits (a pattern that needs more
    // work than a probe may spend on a page the site controls): not a match either way.
    return pcre2_match(compiled_->code.get(), reinterpret_cast<PCRE2_SPTR>(searched.data()), searched.size(), 0, 0,
                       data.get(), compiled_->limits.get()) >= 0;
}

}  // namespace certheal
