#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "support/pki.hpp"
#include "core/record/file_state_store.hpp"
#include "service/platform.hpp"

using namespace certheal;

namespace {

OwnFiles& own_files() {
    static const auto files = platform::make_own_files();
    return *files;
}

std::string read_whole(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("saved state loads back exactly", "[state_store]") {
    test::TempDir scratch;
    FileStateStore store(scratch.path() / "state", own_files());
    const std::string state = "{\"attempts\":[\"2026-11-24T22:31:05.123Z\"],\"circuit\":\"closed\"}\n";
    REQUIRE(store.save(state).ok());
    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    REQUIRE(loaded.value().has_value());
    CHECK(*loaded.value() == state);
    CHECK(store.path() == scratch.path() / "state" / "state.json");
}

TEST_CASE("a store with no saved state loads nothing", "[state_store]") {
    test::TempDir scratch;
    FileStateStore store(scratch.path() / "never-created", own_files());
    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    CHECK_FALSE(loaded.value().has_value());
}

TEST_CASE("a corrupt state file is returned as text for the caller to judge", "[state_store]") {
    test::TempDir scratch;
    { std::ofstream(scratch.path() / "state.json", std::ios::binary) << "{\"attempts\": [tru"; }
    FileStateStore store(scratch.path(), own_files());
    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    REQUIRE(loaded.value().has_value());
    CHECK(*loaded.value() == "{\"attempts\": [tru");
}

TEST_CASE("a state path that is a folder is a failure", "[state_store]") {
    test::TempDir scratch;
    std::filesystem::create_directories(scratch.path() / "state.json");
    FileStateStore store(scratch.path(), own_files());
    const auto loaded = store.load();
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().message.find("state.json") != std::string::npos);
}

TEST_CASE("saving replaces the old state and leaves no temporary file", "[state_store]") {
    test::TempDir scratch;
    FileStateStore store(scratch.path(), own_files());
    REQUIRE(store.save("first, and rather longer than the second").ok());
    REQUIRE(store.save("second").ok());
    CHECK(read_whole(scratch.path() / "state.json") == "second");
    CHECK(std::distance(std::filesystem::directory_iterator(scratch.path()), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("a state file that cannot be replaced keeps the budget in memory and says so", "[state_store]") {
    test::TempDir scratch;
    // A folder at state.json's name: the new state cannot be renamed over it.
    std::filesystem::create_directories(scratch.path() / "state.json" / "inside");
    FileStateStore store(scratch.path(), own_files());
    const auto saved = store.save("new");
    REQUIRE_FALSE(saved.ok());
    CHECK_THAT(saved.error().message, Catch::Contains("state.json") && Catch::Contains("kept in memory only"));
    CHECK(std::distance(std::filesystem::directory_iterator(scratch.path()), std::filesystem::directory_iterator()) == 1);
}
