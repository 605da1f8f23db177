// certheal's own files, its state folder lock and the bundle replacer on Windows, under Wine:
// temporaries made with CREATE_NEW under random names and moved over the file, a reparse point
// (symbolic link) at a name refused or replaced and never followed, one `run` per state folder
// through a pid file opened without write sharing, and a bundle swapped after it was read left
// alone. Where Wine cannot make the thing a test needs (a symbolic link), the test says so.

#include <windows.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <catch2/catch.hpp>

#include "file_support.hpp"
#include "service/platform.hpp"
#include "service/win/file_replacer.hpp"
#include "service/win/own_files.hpp"

#ifndef SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE
#define SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE 0x2
#endif

using namespace certheal;
using win_test::fresh_folder;
namespace fs = std::filesystem;

namespace {

// Read with every sharing mode: certheal.pid is open, not shared for writing or deleting,
// while its certheal runs (std::ifstream asks for less sharing and is refused).
std::string read_text(const fs::path& file) {
    HANDLE handle = ::CreateFileW(file.c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                  nullptr, OPEN_EXISTING, 0, nullptr);
    if (handle == INVALID_HANDLE_VALUE) return {};
    std::string text;
    char chunk[4096];
    DWORD got = 0;
    while (::ReadFile(handle, chunk, sizeof chunk, &got, nullptr) && got > 0) text.append(chunk, got);
    ::CloseHandle(handle);
    return text;
}

void write_text(const fs::path& file, const std::string& text) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

std::size_t entries_in(const fs::path& folder) {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(folder), fs::directory_iterator()));
}

constexpr auto kMode = fs::perms::owner_read | fs::perms::owner_write;

// A symbolic link at `link` to the file `target`, or false when this system cannot make one.
// Wine 8's CreateSymbolicLinkW is a stub that says it succeeded and makes nothing (and a unix
// link in the prefix is followed, never shown as a reparse point): only a link that is there,
// as a reparse point, counts.
bool make_file_link(const fs::path& link, const fs::path& target) {
    (void)(::CreateSymbolicLinkW(link.c_str(), target.c_str(), SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE) ||
           ::CreateSymbolicLinkW(link.c_str(), target.c_str(), 0));
    const DWORD attributes = ::GetFileAttributesW(link.c_str());
    return attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0;
}

}  // namespace

TEST_CASE("an atomic write creates and replaces a file and leaves no temporary", "[own_files]") {
    const auto folder = fresh_folder(L"certheal-own-write");
    win::WinOwnFiles files;
    const auto file = folder / L"status.json";
    REQUIRE(files.write_atomically(file, "first", kMode).ok());
    REQUIRE(files.write_atomically(file, "second", kMode).ok());
    CHECK(read_text(file) == "second");
    CHECK(entries_in(folder) == 1);
}

TEST_CASE("leftover temporaries are removed and nothing else", "[own_files]") {
    const auto folder = fresh_folder(L"certheal-own-leftovers");
    write_text(folder / L".state.json.certheal-AbCdEfGhIjKl", "half");
    write_text(folder / L"certheal.prom.tmp", "old version's");
    write_text(folder / L"journal.jsonl", "{}\n");
    fs::create_directories(folder / L".x.certheal-AAAAAAAAAAAA");
    CHECK(win::remove_leftover_temporaries(folder) == 2);
    CHECK(entries_in(folder) == 2);
}

TEST_CASE("an append creates the journal, adds whole records and says when it is full", "[own_files]") {
    const auto folder = fresh_folder(L"certheal-own-append");
    win::WinOwnFiles files;
    const auto journal = folder / L"journal.jsonl";
    auto first = files.append(journal, "{\"a\":1}\n", kMode, 16);
    REQUIRE(first.ok());
    CHECK(first.value() == OwnFiles::Appended::yes);
    REQUIRE(files.append(journal, "{\"b\":2}\n", kMode, 16).ok());
    auto full = files.append(journal, "{\"c\":3}\n", kMode, 16);
    REQUIRE(full.ok());
    CHECK(full.value() == OwnFiles::Appended::full);
    CHECK(read_text(journal) == "{\"a\":1}\n{\"b\":2}\n");
    fs::create_directories(folder / L"folder.jsonl");
    auto folder_there = files.append(folder / L"folder.jsonl", "{}\n", kMode, 1 << 20);
    REQUIRE_FALSE(folder_there.ok());
    CHECK_THAT(folder_there.error().message, Catch::Contains("folder"));
}

TEST_CASE("a symbolic link at the journal's name is refused, and one at a rewritten file is replaced, never followed",
          "[own_files]") {
    const auto folder = fresh_folder(L"certheal-own-links");
    const auto victim = folder / L"victim.txt";
    write_text(victim, "precious\n");
    const auto journal = folder / L"journal.jsonl";
    const auto status = folder / L"status.json";
    if (!make_file_link(journal, victim) || !make_file_link(status, victim)) {
        WARN("no symbolic link could be made here (Wine 8's CreateSymbolicLinkW makes none): the reparse point "
             "refusal is not shown");
        return;
    }
    win::WinOwnFiles files;
    auto appended = files.append(journal, "{}\n", kMode, 1 << 20);
    REQUIRE_FALSE(appended.ok());
    CHECK_THAT(appended.error().message, Catch::Contains("reparse point"));
    REQUIRE(files.write_atomically(status, "{}", kMode).ok());
    CHECK(read_text(victim) == "precious\n");
    CHECK(read_text(status) == "{}");
}

TEST_CASE("one run per state folder: a second lock names the holder's pid, and the pid file goes with the first",
          "[own_files]") {
    const auto state = fresh_folder(L"certheal-own-instance");
    auto first = platform::lock_state_folder(state);
    REQUIRE(first.ok());
    REQUIRE(first.value().held);
    CHECK_FALSE(first.value().running_pid);
    CHECK(read_text(state / L"certheal.pid") == std::to_string(::GetCurrentProcessId()) + "\r\n");

    auto second = platform::lock_state_folder(state);
    REQUIRE(second.ok());
    CHECK_FALSE(second.value().held);
    REQUIRE(second.value().running_pid);
    CHECK(*second.value().running_pid == static_cast<long long>(::GetCurrentProcessId()));

    first.value().held.reset();
    CHECK_FALSE(fs::exists(state / L"certheal.pid"));
    auto third = platform::lock_state_folder(state);
    REQUIRE(third.ok());
    CHECK(third.value().held);
}

TEST_CASE("a state folder every user can write is named with who can write it", "[own_files]") {
    const auto state = fresh_folder(L"certheal-own-folder");
    const auto clean = platform::folder_protection_problem(state, "the state folder");
    CHECK_FALSE(clean.has_value());
    if (clean) WARN(*clean);
    win_test::let_everyone_write(state);
    const auto problem = platform::folder_protection_problem(state, "the state folder");
    REQUIRE(problem.has_value());
    CHECK_THAT(*problem, Catch::Contains("the state folder") && Catch::Contains("Everyone"));
}

TEST_CASE("a bundle replaced after it was read is not replaced again; a bundle's hard links are counted",
          "[own_files]") {
    const auto folder = fresh_folder(L"certheal-own-bundle");
    const auto bundle = folder / L"client-ca.pem";
    write_text(bundle, "old\n");
    win::WinFileReplacer replacer;
    {
        auto opened = replacer.open(bundle, 1 << 20);
        REQUIRE(opened.ok());
        CHECK(opened.value()->contents() == "old\n");
        CHECK(opened.value()->link_count() == 1);
        const auto other = folder / L"someone-elses.pem";
        write_text(other, "someone else's\n");
        REQUIRE(::MoveFileExW(other.c_str(), bundle.c_str(), MOVEFILE_REPLACE_EXISTING));
        auto replaced = opened.value()->replace("old\nnew\n");
        REQUIRE_FALSE(replaced.ok());
        CHECK_THAT(replaced.error().message, Catch::Contains("was replaced by something else"));
        CHECK(read_text(bundle) == "someone else's\n");
        CHECK(entries_in(folder) == 1);
    }
    const auto second_name = folder / L"also-client-ca.pem";
    if (!::CreateHardLinkW(second_name.c_str(), bundle.c_str(), nullptr)) {
        WARN("Wine could not make a hard link here: the link count is not shown");
        return;
    }
    auto opened = replacer.open(bundle, 1 << 20);
    REQUIRE(opened.ok());
    CHECK(opened.value()->link_count() == 2);
}
