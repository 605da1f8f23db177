// RequestCoalescer: a burst of reload/resume requests is answered once.
#include <catch2/catch.hpp>

#include <vector>

#include "core/base/request_coalescer.hpp"
#include "support/fakes.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

struct Coalescing {
    FakeClock clock;
    std::vector<std::size_t> answered;
    RequestCoalescer coalescer{clock, 300ms, 2s, [this](std::size_t requests) { answered.push_back(requests); }};
};

}  // namespace

TEST_CASE("a thousand requests at once are answered once, when they stop", "[control]") {
    Coalescing c;
    for (int i = 0; i < 1000; ++i) c.coalescer.request();
    CHECK(c.answered.empty());
    CHECK(c.clock.pending_timers() == 1);
    c.clock.advance(299ms);
    CHECK(c.answered.empty());
    c.clock.advance(1ms);
    CHECK(c.answered == std::vector<std::size_t>{1000});
    CHECK(c.coalescer.pending() == 0);
    CHECK(c.clock.pending_timers() == 0);
}

TEST_CASE("one request is answered after the quiet time", "[control]") {
    Coalescing c;
    c.coalescer.request();
    c.clock.advance(300ms);
    CHECK(c.answered == std::vector<std::size_t>{1});
    c.coalescer.request();  // the next burst is a new one
    c.clock.advance(300ms);
    CHECK(c.answered == std::vector<std::size_t>{1, 1});
}

TEST_CASE("requests that keep coming are answered at the latest every `longest`", "[control]") {
    Coalescing c;
    for (int i = 0; i < 50; ++i) {  // one every 100 ms for 5 s: never quiet
        c.coalescer.request();
        c.clock.advance(100ms);
    }
    REQUIRE(c.answered.size() == 2);
    CHECK(c.answered[0] == 20);  // those within the first 2 s
    c.clock.advance(300ms);
    REQUIRE(c.answered.size() == 3);
    CHECK(c.answered[0] + c.answered[1] + c.answered[2] == 50);
}

TEST_CASE("a request waits for the burst to stop, not for a fixed time", "[control]") {
    Coalescing c;
    c.coalescer.request();
    c.clock.advance(200ms);
    c.coalescer.request();
    c.clock.advance(200ms);  // 400 ms after the first, 200 ms after the last: still waiting
    CHECK(c.answered.empty());
    c.clock.advance(100ms);
    CHECK(c.answered == std::vector<std::size_t>{2});
}

TEST_CASE("cancel drops what is pending", "[control]") {
    Coalescing c;
    c.coalescer.request();
    c.coalescer.cancel();
    c.clock.advance(5s);
    CHECK(c.answered.empty());
}
