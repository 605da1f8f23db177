#include "core/probe/rejection_pattern.hpp"

#include <array>
#include <cctype>
#include <optional>
#include <system_error>

#include <pcre2.h>

namespace certheal {

namespace {

// PCRE2's DFA matcher keeps each live partial match in 3 ints, in two lists (this position's
// and the next one's), after 2 ints of its own (pcre2_dfa_match.c, INTS_PER_STATEBLOCK).
constexpr std::size_t kIntsPerLiveMatch = 3;
constexpr std::size_t kWorkspaceInts = 2 + 2 * kIntsPerLiveMatch * RejectionPattern::kMaxLiveMatches;
// The DFA matcher calls itself only for lookarounds, atomic groups, recursion and conditions,
// which compile() refuses. A limit of one call (the top-level one) makes sure of it at run time
// too: a construct the check missed ends the search at once instead of searching again from
// every position.
constexpr std::uint32_t kMatchLimit = 1;
constexpr std::uint32_t kDepthLimit = 1;
constexpr std::uint32_t kHeapLimitKiB = 64;

constexpr std::string_view kDefaultText = "403\\.7";
// The digit after the 7 is excluded: 403.70 and 403.71 are other IIS sub-statuses.
constexpr std::string_view kGuardedDefault = "403\\.7(?:[^0-9]|\\z)";

// No UTF (a page is bytes, and invalid UTF-8 would fail the search) and no \C.
constexpr std::uint32_t kCompileOptions = PCRE2_NEVER_UTF | PCRE2_NEVER_UCP | PCRE2_NEVER_BACKSLASH_C;

constexpr std::string_view kUnsupportedTail =
    ": a rejection pattern is searched in one pass over the page, without lookarounds, back-references, atomic "
    "groups, recursion, conditions, callouts or (*VERB)s, whose cost on a page the site controls has no bound";

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
using CodePtr = std::unique_ptr<pcre2_code, CodeFree>;

std::string pcre2_message(int code) {
    std::array<PCRE2_UCHAR, 256> text{};
    const int length = pcre2_get_error_message(code, text.data(), text.size());
    if (length < 0) return "PCRE2 error " + std::to_string(code);
    return std::string(reinterpret_cast<const char*>(text.data()), static_cast<std::size_t>(length));
}

bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// What `(?` at `at` opens, when it is something compile() refuses.
std::optional<std::string_view> refused_group(std::string_view pattern, std::size_t at) {
    const auto next = [&](std::size_t offset) { return at + offset < pattern.size() ? pattern[at + offset] : '\0'; };
    const char kind = next(2);
    if (kind == ':' || kind == '|' || kind == '#' || kind == '\'' || kind == '^' || kind == ')') return std::nullopt;
    if (kind == '<') {
        const char after = next(3);
        if (after == '=' || after == '!' || after == '*') return "a lookbehind";
        return std::nullopt;  // (?<name>...)
    }
    if (kind == 'P') return next(3) == '<' ? std::nullopt : std::optional<std::string_view>("a named reference");
    if (kind == 'R') return "recursion";
    if (kind == 'C') return "a callout";
    if (kind == '-') return is_letter(next(3)) ? std::nullopt : std::optional<std::string_view>("a subroutine call");
    if (is_letter(kind)) return std::nullopt;  // option letters such as (?i) and (?i:...)
    if (kind == '=' || kind == '!' || kind == '*') return "a lookahead";
    if (kind == '>') return "an atomic group";
    if (kind == '(') return "a condition";
    return "a subroutine call";  // (?1), (?+1), (?&name) and anything else
}

// The first construct compile() refuses, as "a lookahead (?= at character 4". The scan looks at
// every `(?`, `(*` and `\g`, `\k`, `\K` outside a backslash escape, also where PCRE2 would read
// it as literal (inside [...], \Q...\E or a comment): such a pattern is refused needlessly, but
// no refused construct can hide from the scan.
std::optional<std::string> unsupported_construct(std::string_view pattern) {
    for (std::size_t at = 0; at < pattern.size(); ++at) {
        const char c = pattern[at];
        const char next = at + 1 < pattern.size() ? pattern[at + 1] : '\0';
        const std::size_t start = at;
        std::optional<std::string_view> what;
        std::size_t shown = 2;
        if (c == '\\') {
            if (next == 'g' || next == 'k') what = "a back-reference or subroutine call";
            else if (next == 'K') what = "\\K";
            ++at;  // the escaped character is never syntax
        } else if (c == '(' && next == '?') {
            what = refused_group(pattern, at);
            shown = std::min<std::size_t>(pattern.size() - at, 3);
        } else if (c == '(' && next == '*') {
            what = "a (*VERB) or (*name:...) group";
        }
        if (what) {
            return "it uses " + std::string(*what) + " (" + std::string(pattern.substr(start, shown)) +
                   " at character " + std::to_string(start) + ")" + std::string(kUnsupportedTail);
        }
    }
    return std::nullopt;
}

Result<CodePtr> compile_text(std::string_view text) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    CodePtr code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), kCompileOptions, &error, &offset,
                               nullptr));
    if (!code) return bad_pattern(pcre2_message(error) + " at character " + std::to_string(offset));
    return code;
}

}  // namespace

struct RejectionPattern::Compiled {
    CodePtr code;  // (?s:.*?)(?:pattern): one start position, so one pass finds any occurrence
    std::unique_ptr<pcre2_match_context, MatchContextFree> limits;
};

RejectionPattern::RejectionPattern(std::string text, std::shared_ptr<const Compiled> compiled)
    : text_(std::move(text)), compiled_(std::move(compiled)) {}

namespace {

Result<std::shared_ptr<RejectionPattern::Compiled>> compile_searchable(std::string_view pattern) {
    // The pattern alone first: its own errors at its own offsets, and its back-references.
    auto alone = compile_text(pattern);
    if (!alone) return alone.error();
    std::uint32_t back_references = 0;
    pcre2_pattern_info(alone.value().get(), PCRE2_INFO_BACKREFMAX, &back_references);
    if (back_references > 0) {
        return bad_pattern("it uses a back-reference (\\" + std::to_string(back_references) + " or a named one)" +
                           std::string(kUnsupportedTail));
    }
    if (auto construct = unsupported_construct(pattern)) return bad_pattern(std::move(*construct));

    // "\E" closes a \Q the pattern left open. Under (?x) a trailing "# comment" would swallow
    // the closing parenthesis: then a newline ends the comment (and is ignored, as under (?x)).
    const std::string wrapped = "(?s:.*?)(?:" + std::string(pattern) + "\\E)";
    auto code = compile_text(wrapped);
    if (!code) code = compile_text("(?s:.*?)(?:" + std::string(pattern) + "\\E\n)");
    if (!code) return bad_pattern("certheal could not prepare it for searching: " + code.error().message);

    auto compiled = std::make_shared<RejectionPattern::Compiled>();
    compiled->code = std::move(code.value());
    compiled->limits.reset(pcre2_match_context_create(nullptr));
    if (!compiled->limits) return bad_pattern("certheal could not allocate its search limits");
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
    auto compiled = compile_searchable(pattern);
    if (!compiled) return compiled.error();
    return std::shared_ptr<const RejectionPattern>(new RejectionPattern(std::string(pattern), compiled.value()));
}

std::shared_ptr<const RejectionPattern> RejectionPattern::default_pattern() {
    static const std::shared_ptr<const RejectionPattern> pattern = [] {
        auto compiled = compile_searchable(kGuardedDefault);
        return std::shared_ptr<const RejectionPattern>(
            new RejectionPattern(std::string(kDefaultText), compiled ? compiled.value() : nullptr));
    }();
    return pattern;
}

RejectionPattern::Outcome RejectionPattern::search(std::string_view body) const noexcept {
    if (!compiled_) return Outcome::not_found;
    const std::string_view searched = body.substr(0, std::min(body.size(), kSearchedBytes));
    std::unique_ptr<pcre2_match_data, MatchDataFree> data(pcre2_match_data_create(1, nullptr));
    if (!data) return Outcome::not_found;
    std::array<int, kWorkspaceInts> workspace{};
    // Anchored at 0 behind the leading (?s:.*?): the one pass; the shortest match ends it early.
    const int result = pcre2_dfa_match(compiled_->code.get(), reinterpret_cast<PCRE2_SPTR>(searched.data()),
                                       searched.size(), 0, PCRE2_ANCHORED | PCRE2_DFA_SHORTEST, data.get(),
                                       compiled_->limits.get(), workspace.data(), workspace.size());
    if (result >= 0) return Outcome::found;
    if (result == PCRE2_ERROR_NOMATCH || result == PCRE2_ERROR_PARTIAL) return Outcome::not_found;
    // Too many live matches (PCRE2_ERROR_DFA_WSSIZE), or anything the matcher would not do
    // within its limits: given up, not a match.
    went_over_limit_.store(true, std::memory_order_relaxed);
    return Outcome::over_limit;
}

bool RejectionPattern::claim_over_limit_report() const noexcept {
    if (!went_over_limit_.load(std::memory_order_relaxed)) return false;
    return !over_limit_reported_.exchange(true, std::memory_order_relaxed);
}

std::string RejectionPattern::over_limit_clause() {
    return "more than " + std::to_string(kMaxLiveMatches) + " partial matches of it were alive at once";
}

}  // namespace certheal
