// `certheal history --follow` on Windows: the ReadDirectoryChangesW watch of the state folder
// wakes the follower for journal files only, and the tail follows a rotation; and
// `certheal check-config` refuses a configuration every user may change, as `run` does.

#include <windows.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "core/record/journal.hpp"
#include "file_support.hpp"
#include "service/cli.hpp"
#include "service/platform.hpp"

using namespace std::chrono_literals;
using win_test::fresh_folder;

namespace {

std::string record_line(const std::string& event) {
    return nlohmann::json{{"time", "2026-11-24T22:31:05.001Z"}, {"id", 1001}, {"event", event}, {"message", "m"}}.dump() +
           "\n";
}

void append(const std::filesystem::path& file, const std::string& text) {
    std::ofstream(file, std::ios::app | std::ios::binary) << text;
}

// Runs the io_context until the watch wakes (or `limit` passes); how many times it woke.
struct Wakeups {
    boost::asio::io_context io;
    int count = 0;
    std::optional<std::string> problem;
    std::shared_ptr<void> watch;

    explicit Wakeups(const std::filesystem::path& folder) {
        auto started = certheal::platform::watch_journal_folder(io, folder, [this](const std::optional<std::string>& p) {
            if (p) problem = p;
            ++count;
            io.stop();
        });
        REQUIRE(started);
        watch = started.value();
    }
    int wait(std::chrono::milliseconds limit) {
        count = 0;
        io.restart();
        io.run_for(limit);
        return count;
    }
};

}  // namespace

TEST_CASE("the journal watch wakes for a journal write or rotation, not for status.json", "[platform][follow]") {
    const auto folder = fresh_folder(L"certheal-journal-watch");
    Wakeups wakeups(folder);

    std::ofstream(folder / L"status.json") << "{}";
    CHECK(wakeups.wait(1500ms) == 0);

    append(folder / L"journal.jsonl", record_line("service_started"));
    CHECK(wakeups.wait(10s) >= 1);
    CHECK_FALSE(wakeups.problem);

    std::filesystem::rename(folder / L"journal.jsonl", folder / L"journal.1.jsonl");
    CHECK(wakeups.wait(10s) >= 1);
    CHECK_FALSE(wakeups.problem);
}

TEST_CASE("the journal tail follows a rotation on Windows, where no reader may hold the file open",
          "[platform][follow]") {
    const auto folder = fresh_folder(L"certheal-journal-tail");
    const auto journal = folder / L"journal.jsonl";
    certheal::JournalTail tail(folder);
    std::vector<std::string> seen;
    const auto read = [&] {
        tail.read_new(std::nullopt, [&seen](nlohmann::json&& record) { seen.push_back(record.value("event", "")); },
                      nullptr);
    };
    append(journal, record_line("service_started"));
    read();
    append(journal, record_line("repair_started"));
    // The writer renames the journal it just wrote: this fails while a reader holds it open.
    std::filesystem::rename(journal, folder / L"journal.1.jsonl");
    append(journal, record_line("repair_succeeded"));
    read();
    CHECK(seen == std::vector<std::string>{"service_started", "repair_started", "repair_succeeded"});
}

TEST_CASE("check-config refuses a configuration every user may change, as run does", "[platform][cli]") {
    const auto folder = fresh_folder(L"certheal-check-config-acl");
    const auto config = folder / L"certheal.json";
    std::ofstream(config) << R"({"sites": [{"name": "a", "url": "https://a.example/"}], "remediation": {"enabled": false}})";
    certheal::cli::Options options;
    options.command = "check-config";
    options.config = config;
    CHECK(certheal::cli::dispatch(options) == certheal::cli::ok);
    win_test::let_everyone_write(config);
    CHECK(certheal::cli::dispatch(options) == certheal::cli::usage);
}
