#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "core/model/events.hpp"

using namespace certheal;

TEST_CASE("docs/events.md lists every event with its id, name and severity", "[events][docs]") {
    std::ifstream file(CERTHEAL_SOURCE_DIR "/docs/events.md");
    REQUIRE(file);
    std::stringstream text;
    text << file.rdbuf();
    const std::string doc = text.str();
    for (const auto& def : event_table()) {
        const std::string row = "| " + std::to_string(static_cast<int>(def.id)) + " | " + std::string(def.name) +
                                " | " + std::string(to_string(def.severity)) + " | " + std::string(def.meaning) + " |";
        INFO("missing or different row for " << def.name);
        CHECK(doc.find(row) != std::string::npos);
    }
}
