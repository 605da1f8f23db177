#include <catch2/catch.hpp>

#include <chrono>
#include <string_view>
#include <string>

#include "core/probe/rejection_pattern.hpp"

using namespace certheal;

namespace {

std::shared_ptr<const RejectionPattern> compiled(const std::string& text) {
    auto pattern = RejectionPattern::compile(text);
    REQUIRE(pattern.ok());
    return pattern.value();
}

}  // namespace

TEST_CASE("a greedy pattern over a large page finds its match without recursing per character", "[pattern]") {
    // std::regex overflowed the stack here at 40 KB.
    const std::string page = std::string(40 * 1024, 'x') + "Forbidden";
    CHECK(compiled(".*Forbidden")->found_in(page));
    const std::string huge = std::string(8 * 1024 * 1024, 'x');
    CHECK_FALSE(compiled(".*Forbidden")->found_in(huge));
}

TEST_CASE("only the first 64 KiB of a page are searched", "[pattern]") {
    const auto pattern = compiled("HTTP Error 403\\.7");
    CHECK(pattern->found_in(std::string(60 * 1024, ' ') + "HTTP Error 403.7"));
    CHECK_FALSE(pattern->found_in(std::string(70 * 1024, ' ') + "HTTP Error 403.7"));
}

TEST_CASE("patterns that backtrack without end are searched in one pass, whatever the page", "[pattern]") {
    struct Row {
        const char* description;
        std::string pattern;
        std::string page;
        RejectionPattern::Outcome expected;
    };
    using O = RejectionPattern::Outcome;
    const auto repeated = [](const std::string& unit) {
        std::string page;
        while (page.size() < RejectionPattern::kSearchedBytes) page += unit;
        page.resize(RejectionPattern::kSearchedBytes);
        return page;
    };
    const Row rows[] = {
        {"nested repeats, which would need a live match per way of splitting the page", "(a+)+b", repeated("a"),
         O::over_limit},
        {"an alternation that matches the same twice", "(a|a)*b", repeated("a"), O::not_found},
        {"a repeated empty-able group", "(?:a*)*b", repeated("a"), O::not_found},
        {"a dot-star between two rare bytes (the fuzz smoke's 9-character pattern, 20 s before)",
         "\xcc.*\xcc{6}", repeated("\xcc\xcc\xcc\x83\x01\x00\x31\x28\xef\x34\x30\x33\x5c"), O::not_found},
        {"a dot-star before a phrase on a page of one long line", "x.*Forbidden", repeated("x"), O::not_found},
        {"the same, found at the end", "x.*Forbidden", repeated("x").substr(100) + "Forbidden", O::found},
        {"a counted repeat over a page where its start repeats", "a.{0,200}b", repeated("a"), O::over_limit},
        {"many alternatives alive at once", "(?:a|aa|aaa|aaaa|aaaaa|aaaaaa){20}b", repeated("a"), O::over_limit},
        {"a counted repeat whose start is rare", "403.{0,200}certificate",
         repeated("<p>HTTP Error 403.7 - Forbidden: client certificate required</p>\n"), O::found},
    };
    for (const auto& row : rows) {
        INFO(row.description);
        const auto started = std::chrono::steady_clock::now();
        CHECK(compiled(row.pattern)->search(row.page) == row.expected);
        // The bound is ~0.1 s at the very worst on a slow machine; real patterns take well
        // under a millisecond. Five seconds only catches a search that is not bounded at all.
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
    }
}

TEST_CASE("a pattern that went over the limit is to be reported once, not on every probe", "[pattern]") {
    const auto pattern = compiled("a.{0,200}b");
    CHECK_FALSE(pattern->claim_over_limit_report());  // nothing went over yet
    // (The page holds a "b": PCRE2 says "no match" at once when the last character a match
    // needs is not there.)
    const std::string page = std::string(1000, 'a') + "b";
    CHECK(pattern->search(page) == RejectionPattern::Outcome::over_limit);
    CHECK(pattern->claim_over_limit_report());
    CHECK(pattern->search(page) == RejectionPattern::Outcome::over_limit);
    CHECK_FALSE(pattern->claim_over_limit_report());
    CHECK(RejectionPattern::over_limit_clause() == "more than 64 partial matches of it were alive at once");
}

TEST_CASE("constructs a single pass cannot search are refused when the config is read", "[pattern]") {
    struct Row {
        const char* pattern;
        const char* what;  // the start of the reason
    };
    const Row rows[] = {
        {"(.*)\\1", "it uses a back-reference (\\1 or a named one)"},
        {"a(.*)\\1\\1\\W", "it uses a back-reference (\\1 or a named one)"},
        {"(?<x>a)\\k<x>", "it uses a back-reference (\\1 or a named one)"},
        {"(?P<x>a)(?P=x)", "it uses a back-reference (\\1 or a named one)"},
        {"(a)\\g{-1}", "it uses a back-reference (\\1 or a named one)"},
        {"(a)\\g<1>", "it uses a back-reference or subroutine call (\\g at character 3)"},
        {"403(?=\\.7)", "it uses a lookahead ((?= at character 3)"},
        {"403(?!\\.70)", "it uses a lookahead ((?! at character 3)"},
        {"(?<=HTTP )403", "it uses a lookbehind ((?< at character 0)"},
        {"(?<!x)403", "it uses a lookbehind ((?< at character 0)"},
        {"(?>a+)b", "it uses an atomic group ((?> at character 0)"},
        {"(a|b(?1))", "it uses a subroutine call ((?1 at character 4)"},
        {"(?R)?x", "it uses recursion ((?R at character 0)"},
        {"(?(?=a)ab|cd)", "it uses a condition ((?( at character 0)"},
        {"(a)(?(1)b|c)", "it uses a back-reference (\\1 or a named one)"},  // a condition on a group
        {"a(?C1)b", "it uses a callout ((?C at character 1)"},
        {"a(*SKIP)b", "it uses a (*VERB) or (*name:...) group ((* at character 1)"},
        {"(*positive_lookahead:a)", "it uses a (*VERB) or (*name:...) group ((* at character 0)"},
        {"(*LIMIT_MATCH=1)a", "it uses a (*VERB) or (*name:...) group ((* at character 0)"},
        {"ab\\Kc", "it uses \\K (\\K at character 2)"},
        // "(?=" inside a class is literal to PCRE2, but the check does not parse classes: it
        // refuses such a pattern rather than risk missing a real lookahead.
        {"[(?=]x", "it uses a lookahead ((?= at character 1)"},
    };
    for (const auto& row : rows) {
        INFO(row.pattern);
        const auto result = RejectionPattern::compile(row.pattern);
        REQUIRE_FALSE(result.ok());
        CHECK_THAT(result.error().message, Catch::StartsWith(row.what));
        CHECK_THAT(result.error().message, Catch::Contains("searched in one pass over the page"));
    }
    CHECK(RejectionPattern::compile("(*UTF)a").error().message.find("UTF") != std::string::npos);
    CHECK_FALSE(RejectionPattern::compile("a\\Cb").ok());
}

TEST_CASE("the Perl syntax that one pass can search is accepted and means what it says", "[pattern]") {
    struct Row {
        const char* pattern;
        const char* page;
        bool found;
    };
    const Row rows[] = {
        {"(?i)client certificate required", "<h1>Client Certificate Required</h1>", true},
        {"(?i:denied)|refused", "Access DENIED", true},
        {"403\\.(7|16)\\b", "HTTP Error 403.16 - Forbidden", true},
        {"403\\.(7|16)\\b", "HTTP Error 403.160", false},
        {"(?<code>40[03])\\.7", "HTTP Error 403.7", true},
        {"(?'code'40[03])\\.7", "HTTP Error 400.7", true},
        {"(?P<code>40[03])\\.7", "HTTP Error 401.7", false},
        {"(?|(a)|(b))c", "bc", true},
        {"(?-i:ABC)", "abc", false},
        {"^<html>", "<html><body>", true},
        {"^<body>", "<html><body>", false},
        {"(?m)^Reason:", "403\nReason: no certificate", true},
        {"No required SSL certificate was sent$", "400 No required SSL certificate was sent", true},
        {"(?x) 403 \\. 7  # IIS's sub-status", "HTTP Error 403.7", true},
        {"(?x) 403 \\. 7  # no closing", "HTTP Error 4037", false},
        {"abc\\Qx.y", "abcx.y", true},
        {"abc\\Qx.y", "abcxzy", false},
        {"\\(\\?=", "a (?= b", true},
        {"a{2,5}b", "xaaab", true},
        {"client.*cert", "client side cert", true},
        {"client.*cert", "client\nside\ncert", false},  // . does not match a newline, as in Perl
        {"(?s)client.*cert", "client\nside\ncert", true},
        {"\\x{41}\\101", "AA", true},
    };
    for (const auto& row : rows) {
        INFO(row.pattern << " in " << row.page);
        const auto result = RejectionPattern::compile(row.pattern);
        REQUIRE(result.ok());
        CHECK(result.value()->found_in(row.page) == row.found);
    }
}

TEST_CASE("the default pattern finds 403.7 but not IIS's other sub-statuses", "[pattern]") {
    const auto pattern = RejectionPattern::default_pattern();
    CHECK(pattern->text() == "403\\.7");
    CHECK(pattern->found_in("HTTP Error 403.7 - Forbidden"));
    CHECK(pattern->found_in("HTTP Error 403.7"));
    CHECK_FALSE(pattern->found_in("HTTP Error 403.70"));
    CHECK_FALSE(pattern->found_in("HTTP Error 403.16"));
    CHECK(compiled("403\\.7") == pattern);  // written out, it is the default
}

TEST_CASE("an empty, a malformed and an overlong pattern are refused with a reason", "[pattern]") {
    CHECK(RejectionPattern::compile("").error().message == "it is empty");
    CHECK(RejectionPattern::compile("403(").error().message == "missing closing parenthesis at character 4");
    CHECK(RejectionPattern::compile(std::string(2000, 'a')).error().message ==
          "it has 2000 characters, and a rejection pattern may have at most 1024");
    // Nesting and counts beyond what the engine takes are refused when the config is read.
    CHECK_FALSE(RejectionPattern::compile(std::string(300, '(') + "a" + std::string(300, ')')).ok());
    CHECK_FALSE(RejectionPattern::compile("a{99999999999999999999}").ok());
}
