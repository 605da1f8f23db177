#include <catch2/catch.hpp>

#include <set>

#include "core/model/events.hpp"

using namespace certheal;

TEST_CASE("every event has a unique id and a unique snake_case name", "[events]") {
    std::set<int> ids;
    std::set<std::string_view> names;
    for (const auto& def : event_table()) {
        CHECK(ids.insert(static_cast<int>(def.id)).second);
        CHECK(names.insert(def.name).second);
        CHECK(def.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos);
        CHECK_FALSE(def.meaning.empty());
    }
    CHECK(ids.size() == 29);
}

TEST_CASE("event names from the interface contract map to their ids", "[events]") {
    CHECK(event_id_from_name("symptom_confirmed") == EventId::symptom_confirmed);
    CHECK(static_cast<int>(EventId::symptom_confirmed) == 2001);
    CHECK(definition_of(EventId::circuit_opened).name == "circuit_opened");
    CHECK_FALSE(event_id_from_name("no_such_event").has_value());
}

TEST_CASE("the repair ladder's stage events keep their reserved ids 3008 to 3011", "[events][ladder]") {
    CHECK(event_id_from_name("stage_started") == EventId::stage_started);
    CHECK(static_cast<int>(EventId::stage_started) == 3008);
    CHECK(static_cast<int>(EventId::stage_skipped) == 3009);
    CHECK(static_cast<int>(EventId::stage_succeeded) == 3010);
    CHECK(static_cast<int>(EventId::stage_failed) == 3011);
    CHECK(definition_of(EventId::stage_failed).severity == Severity::warning);
}
