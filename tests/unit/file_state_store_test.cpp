#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "core/record/file_state_store.hpp"
#include "service/platform.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"

using certheal::test::read_text;
using namespace certheal;

namespace {

OwnFiles& own_files() {
    static const auto files = platform::make_own_files();
    return *files;
}

}  // namespace

TEST_CASE("saved state loads back exactly", "[adapters][state_store]") {
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

TEST_CASE("a store with no saved state loads nothing", "[adapters][state_store]") {
    test::TempDir scratch;
    FileStateStore store(scratch.path() / "never-created", own_files());
    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    CHECK_FALSE(loaded.value().has_value());
}

TEST_CASE("a corrupt state file is returned as text for the caller to judge", "[adapters][state_store]") {
    test::TempDir scratch;
    { std::ofstream(scratch.path() / "state.json", std::ios::binary) << "{\"attempts\": [tru"; }
    FileStateStore store(scratch.path(), own_files());
    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    REQUIRE(loaded.value().has_value());
    CHECK(*loaded.value() == "{\"attempts\": [tru");
}

TEST_CASE("a state path that is a folder is a failure", "[adapters][state_store]") {
    test::TempDir scratch;
    std::filesystem::create_directories(scratch.path() / "state.json");
    FileStateStore store(scratch.path(), own_files());
    const auto loaded = store.load();
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().message.find("state.json") != std::string::npos);
}

TEST_CASE("saving replaces the old state and leaves no temporary file", "[adapters][state_store]") {
    test::TempDir scratch;
    FileStateStore store(scratch.path(), own_files());
    REQUIRE(store.save("first, and rather longer than the second").ok());
    REQUIRE(store.save("second").ok());
    CHECK(read_text(scratch.path() / "state.json") == "second");
    CHECK(std::distance(std::filesystem::directory_iterator(scratch.path()), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("a state file that cannot be replaced keeps the budget in memory and says so", "[adapters][state_store]") {
    test::TempDir scratch;
    // A folder at state.json's name: the new state cannot be renamed over it.
    std::filesystem::create_directories(scratch.path() / "state.json" / "inside");
    FileStateStore store(scratch.path(), own_files());
    const auto saved = store.save("new");
    REQUIRE_FALSE(saved.ok());
    CHECK_THAT(saved.error().message, Catch::Contains("state.json") && Catch::Contains("kept in memory only"));
    CHECK(std::distance(std::filesystem::directory_iterator(scratch.path()), std::filesystem::directory_iterator()) == 1);
}

namespace {

// A state lock another process may hold: acquire waits (here: says how long it was asked to).
struct RecordingStateLock : StateLock {
    bool held_elsewhere = false;
    std::vector<std::string>* log = nullptr;
    Result<bool> acquire(Duration wait) override {
        log->push_back("acquire " + std::to_string(wait.count()) + "ms");
        return !held_elsewhere;
    }
    void release() noexcept override { log->push_back("release"); }
};

}  // namespace

TEST_CASE("update reads, merges and saves under the state lock", "[adapters][state_store]") {
    test::TempDir scratch;
    std::vector<std::string> log;
    auto lock = std::make_unique<RecordingStateLock>();
    lock->log = &log;
    FileStateStore store(scratch.path(), own_files(), std::move(lock));
    REQUIRE(store.save("old").ok());
    std::optional<std::string> seen;
    const auto updated = store.update([&](const std::optional<std::string>& saved) {
        seen = saved;
        log.push_back("merge");
        return *saved + "+new";
    });
    REQUIRE(updated.ok());
    CHECK(seen == std::optional<std::string>("old"));
    CHECK(read_text(store.path()) == "old+new");
    CHECK(log == std::vector<std::string>{"acquire 5000ms", "merge", "release"});
}

TEST_CASE("update gives up, saving nothing, while another process holds the state lock", "[adapters][state_store]") {
    test::TempDir scratch;
    std::vector<std::string> log;
    auto lock = std::make_unique<RecordingStateLock>();
    lock->log = &log;
    lock->held_elsewhere = true;
    FileStateStore store(scratch.path(), own_files(), std::move(lock));
    bool merged = false;
    const auto updated = store.update([&](const std::optional<std::string>&) {
        merged = true;
        return std::string("new");
    });
    REQUIRE_FALSE(updated.ok());
    CHECK_THAT(updated.error().message, Catch::Contains("another certheal process held the lock"));
    CHECK_FALSE(merged);
    CHECK_FALSE(std::filesystem::exists(store.path()));
    CHECK(log == std::vector<std::string>{"acquire 5000ms"});
}

TEST_CASE("update replaces a saved state it cannot read with what merge makes of none", "[adapters][state_store]") {
    test::TempDir scratch;
    FileStateStore store(scratch.path(), own_files());
    std::filesystem::create_directories(scratch.path());
    {
        std::ofstream big(store.path(), std::ios::binary);
        big << std::string(FileStateStore::kMaxStateBytes + 1, 'x');
    }
    std::optional<std::string> seen = "unset";
    REQUIRE(store.update([&](const std::optional<std::string>& saved) {
                    seen = saved;
                    return std::string("fresh");
                })
                .ok());
    CHECK_FALSE(seen.has_value());
    CHECK(read_text(store.path()) == "fresh");
}
