#include <catch2/catch.hpp>

#include "core/model/events.hpp"
#include "service/posix/syslog_sink.hpp"

using namespace certheal;

TEST_CASE("a syslog line names the event, its id, the site and the incident", "[syslog]") {
    Event event;
    event.id = EventId::symptom_confirmed;
    event.site = "intranet";
    event.incident = "inc-1";
    event.message = "The site answers 403.7.";
    CHECK(format_syslog_message(event) ==
          "symptom_confirmed [" + std::to_string(static_cast<int>(EventId::symptom_confirmed)) +
              "] site=intranet incident=inc-1: The site answers 403.7.");
}

TEST_CASE("a line break in a message or a site name cannot start a forged syslog line", "[syslog][hostile]") {
    Event event;
    event.id = EventId::symptom_confirmed;
    event.site = "intra\nnet";
    event.message = "The site answered \"403.7\r\ncertheal: repair_succeeded\"\x1b[2J.";
    const auto line = format_syslog_message(event);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    CHECK(line.find('\x1b') == std::string::npos);
    CHECK_THAT(line, Catch::Contains("site=intra net"));
}

TEST_CASE("a syslog line carries the event's fields after its sentence, on the same line", "[syslog][events]") {
    Event event;
    event.id = EventId::step_failed;
    event.incident = "inc-1";
    event.message = "Repair step 1 of 2 (run) failed: the program exited with code 1.";
    event.details = {{"error", "reload exited with code 1."}, {"output_tail", {{"stderr", "invalid PID\nnumber\n"}}}};
    const auto line = format_syslog_message(event);
    CHECK_THAT(line, Catch::StartsWith("step_failed [3002] incident=inc-1: Repair step 1 of 2 (run) failed: the program "
                                       "exited with code 1. details={"));
    CHECK_THAT(line, Catch::Contains(R"("error":"reload exited with code 1.")"));
    CHECK_THAT(line, Catch::Contains(R"(invalid PID\nnumber\n)"));  // escaped by JSON: still one line
    CHECK(line.find('\n') == std::string::npos);
}
