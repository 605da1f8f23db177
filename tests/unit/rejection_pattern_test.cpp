#include <catch2/catch.hpp>

#include <chrono>
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

TEST_CASE("a pattern that would take exponential time gives up and does not match", "[pattern]") {
    const auto evil = compiled("(a+)+b");
    const auto started = std::chrono::steady_clock::now();
    CHECK_FALSE(evil->found_in(std::string(64 * 1024, 'a')));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
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
