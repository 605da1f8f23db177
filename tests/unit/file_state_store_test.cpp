#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "support/pki.hpp"
#include "core/record/file_state_store.hpp"

using namespace certheal;

namespace {

std::string read_whole(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("saved state loads back exactly", "[state_store]") {
    test::TempDir scratch;
    FileStateStore store(scratch.path() / "state");
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
    FileStateStore store(scratch.path() / "never-created");
    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    CHECK_FALSE(loaded.value().has_value());
}

TEST_CASE("a corrupt state file is returned as text for the caller to judge", "[state_store]") {
    test::TempDir scratch;
    { std::ofstream(scratch.path() / "state.json", std::ios::binary) << "{\"attempts\": [tru"; }
    FileStateStore store(scratch.path());
    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    REQUIRE(loaded.value().has_value());
    CHECK(*loaded.value() == "{\"attempts\": [tru");
}

TEST_CASE("a state path that is a folder is a failure", "[state_store]") {
    test::TempDir scratch;
    std::filesystem::create_directories(scratch.path() / "state.json");
    FileStateStore store(scratch.path());
    const auto loaded = store.load();
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().message.find("state.json") != std::string::npos);
}

TEST_CASE("saving replaces the old state and leaves no temporary file", "[state_store]") {
    test::TempDir scratch;
    FileStateStore store(scratch.path());
    REQUIRE(store.save("first, and rather longer than the second").ok());
    REQUIRE(store.save("second").ok());
    CHECK(read_whole(scratch.path() / "state.json") == "second");
    CHECK_FALSE(std::filesystem::exists(scratch.path() / "state.json.tmp"));
}

TEST_CASE("a failed replace keeps the old state and reports the error", "[state_store]") {
    test::TempDir scratch;
    FileStateStore working(scratch.path());
    REQUIRE(working.save("old").ok());

    FileStateStore refusing(scratch.path(), [](const std::filesystem::path&, const std::filesystem::path&) {
        return std::make_error_code(std::errc::permission_denied);
    });
    const auto saved = refusing.save("new");
    REQUIRE_FALSE(saved.ok());
    CHECK(saved.error().code == std::errc::permission_denied);
    CHECK(read_whole(scratch.path() / "state.json") == "old");
    CHECK_FALSE(std::filesystem::exists(scratch.path() / "state.json.tmp"));
}

TEST_CASE("the portable replace works when the target exists and when it does not", "[state_store]") {
    test::TempDir scratch;
    const auto source = scratch.path() / "a.tmp", target = scratch.path() / "a";
    { std::ofstream(source) << "one"; }
    CHECK_FALSE(replace_file_portably(source, target));
    { std::ofstream(source) << "two"; }
    CHECK_FALSE(replace_file_portably(source, target));
    CHECK(read_whole(target) == "two");
    CHECK_FALSE(std::filesystem::exists(source));
}
