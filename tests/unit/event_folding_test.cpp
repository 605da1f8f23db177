// FoldingSink: repeated identical events of a site are folded, counted, and the latest written
// when the window ends.
#include <catch2/catch.hpp>

#include "core/record/event_folding.hpp"
#include "support/fakes.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

struct Folding {
    FakeClock clock;
    RecordingSink written;
    FoldingSink sink{written, clock, FoldingLimits{10min}};

    void emit(EventId id, const std::string& site, const std::string& probe_class, const std::string& message = "m") {
        Event event;
        event.id = id;
        event.time = clock.wall_now();
        event.site = site;
        event.message = message;
        event.details = {{"class", probe_class}};
        sink.emit(event);
    }
    // A site that flaps once: failing, then healthy again.
    void flap(const std::string& site) {
        emit(EventId::probe_failed, site, "unexpected_status");
        clock.advance(30s);
        emit(EventId::probe_recovered, site, "healthy");
        clock.advance(30s);
    }
};

}  // namespace

TEST_CASE("the first event of a kind is written at once", "[events][folding]") {
    Folding f;
    f.emit(EventId::probe_failed, "intranet", "timeout");
    REQUIRE(f.written.events().size() == 1);
    CHECK_FALSE(f.written.events()[0].details.contains("folded"));
}

TEST_CASE("a site flapping all day writes each kind once per window, windows that grow to an hour, with how many "
          "were folded",
          "[events][folding]") {
    Folding f;
    for (int minute = 0; minute < 60; ++minute) f.flap("intranet");  // an hour, one flap a minute
    // 120 events: the first two at once, then both kinds when a window ends: at 10 min, then
    // (windows of 20, 40 min) at 30 and 70 min.
    CHECK(f.written.events().size() == 2 + 2 + 2);
    f.clock.advance(10min);
    REQUIRE(f.written.events().size() == 2 + 2 + 2 + 2);
    const auto failed = f.written.all(EventId::probe_failed);
    REQUIRE(failed.size() == 4);
    CHECK(failed[1].details["folded"] == 8);   // minutes 1-9, the last written
    CHECK(failed[2].details["folded"] == 19);  // minutes 10-29
    CHECK(failed[3].details["folded"] == 29);  // minutes 30-59
    CHECK(failed[3].details.contains("folded_since"));
    CHECK_THAT(failed[3].message, Catch::EndsWith(" (29 more folded into this one.)"));
    CHECK(f.sink.folded_total() == 120 - 8);
    std::uint64_t total = 0;
    for (const auto& event : f.written.events()) total += event.details.value("folded", std::uint64_t{0}) + 1;
    CHECK(total == 120);  // every event is written or counted in one that is
    // The site's last line is its latest state.
    CHECK(f.written.events().back().id == EventId::probe_recovered);

    f.clock.advance(2h);  // quiet: nothing held, nothing more written
    CHECK(f.written.events().size() == 8);
    CHECK(f.clock.pending_timers() == 0);
    f.flap("intranet");  // after a quiet window, written at once again
    CHECK(f.written.events().size() == 10);
}

TEST_CASE("the window stops growing at an hour", "[events][folding]") {
    Folding f;
    for (int minute = 0; minute < 6 * 60; ++minute) f.flap("intranet");
    // Windows of 10, 20, 40, then 60 minutes: trailing writes at 10, 30, 70, 130, 190, 250, 310 min.
    CHECK(f.written.all(EventId::probe_failed).size() == 1 + 7);
}

TEST_CASE("events of another site, class or kind are never folded together", "[events][folding]") {
    Folding f;
    f.emit(EventId::probe_failed, "intranet", "timeout");
    f.emit(EventId::probe_failed, "portal", "timeout");
    f.emit(EventId::probe_failed, "intranet", "tls_error");
    f.emit(EventId::symptom_confirmed, "intranet", "timeout");
    CHECK(f.written.events().size() == 4);
    f.emit(EventId::probe_failed, "intranet", "timeout");
    CHECK(f.written.events().size() == 4);
}

TEST_CASE("events without a site and repair events are never folded, and a repair writes its site's held events "
          "first",
          "[events][folding]") {
    Folding f;
    f.emit(EventId::symptom_confirmed, "intranet", "client_cert_rejected");
    f.clock.advance(1min);
    f.emit(EventId::symptom_confirmed, "intranet", "client_cert_rejected", "the second");
    REQUIRE(f.written.events().size() == 1);
    Event repair;
    repair.id = EventId::repair_started;
    repair.site = "intranet";
    repair.time = f.clock.wall_now();
    f.sink.emit(repair);
    f.sink.emit(repair);
    REQUIRE(f.written.events().size() == 4);
    CHECK(f.written.events()[1].message == "the second");
    CHECK(f.written.events()[2].id == EventId::repair_started);
    Event config;
    config.id = EventId::config_reloaded;
    f.sink.emit(config);
    f.sink.emit(config);
    CHECK(f.written.events().size() == 6);
}

TEST_CASE("service_stopped writes every held event before it", "[events][folding]") {
    Folding f;
    f.flap("intranet");
    f.flap("intranet");
    f.flap("portal");
    f.flap("portal");
    REQUIRE(f.written.events().size() == 4);
    Event stopped;
    stopped.id = EventId::service_stopped;
    f.sink.emit(stopped);
    REQUIRE(f.written.events().size() == 9);
    CHECK(f.written.events().back().id == EventId::service_stopped);
}

TEST_CASE("after a quiet window the next event is written at once, with what was folded before it",
          "[events][folding]") {
    Folding f;
    f.emit(EventId::probe_failed, "intranet", "timeout");
    f.clock.advance(1min);
    f.emit(EventId::probe_failed, "intranet", "timeout");
    f.clock.advance(9min);  // the window ends: the held one is written
    REQUIRE(f.written.events().size() == 2);
    CHECK_FALSE(f.written.events()[1].details.contains("folded"));
    f.clock.advance(30min);
    f.emit(EventId::probe_failed, "intranet", "timeout");
    REQUIRE(f.written.events().size() == 3);
}
