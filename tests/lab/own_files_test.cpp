// PosixOwnFiles and the folder checks on real files: the journal, state.json, status.json and
// certheal.prom are written through no link, into no FIFO or device, and never into a file of
// another account; nothing blocks; temporaries have random names and what a killed rewrite left
// is removed; folders others could change are named with the reason.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "service/posix/own_files.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"

using certheal::test::read_text;
using namespace certheal;
using certheal::test::TempDir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr auto kMode0640 = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read;
constexpr auto kMode0644 = kMode0640 | fs::perms::others_read;

struct stat lstat_of(const fs::path& file) {
    struct stat info {};
    REQUIRE(::lstat(file.c_str(), &info) == 0);
    return info;
}

std::size_t entries_in(const fs::path& folder) {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(folder), fs::directory_iterator()));
}

// Runs `call` and checks that it came back within a second: nothing certheal writes may block.
template <class Call>
auto quickly(Call call) {
    const auto started = std::chrono::steady_clock::now();
    auto result = call();
    CHECK(std::chrono::steady_clock::now() - started < 1s);
    return result;
}

}  // namespace

TEST_CASE("an atomic write replaces a link at the name and leaves its target untouched", "[lab][own_files]") {
    TempDir dir;
    const auto victim = dir.write("victim.txt", "precious\n");
    const auto file = dir.path() / "status.json";
    fs::create_symlink(victim, file);
    posix::PosixOwnFiles files;
    REQUIRE(files.write_atomically(file, "{}\n", kMode0644).ok());
    CHECK(read_text(victim) == "precious\n");
    CHECK(S_ISREG(lstat_of(file).st_mode));
    CHECK((lstat_of(file).st_mode & 07777) == 0644);
    CHECK(read_text(file) == "{}\n");
    CHECK(entries_in(dir.path()) == 2);
}

TEST_CASE("an atomic write never opens what sits at the old fixed temporary name", "[lab][own_files]") {
    TempDir dir;
    const auto file = dir.path() / "certheal.prom";
    REQUIRE(::mkfifo((dir.path() / "certheal.prom.tmp").c_str(), 0666) == 0);
    posix::PosixOwnFiles files;
    const auto written = quickly([&] { return files.write_atomically(file, "# HELP certheal_up\n", kMode0644); });
    REQUIRE(written.ok());
    CHECK(read_text(file) == "# HELP certheal_up\n");
}

TEST_CASE("an atomic write that cannot rename leaves no temporary behind", "[lab][own_files]") {
    TempDir dir;
    fs::create_directories(dir.path() / "state.json");  // the rename cannot replace a folder
    posix::PosixOwnFiles files;
    const auto written = files.write_atomically(dir.path() / "state.json", "{}", kMode0640);
    REQUIRE_FALSE(written.ok());
    CHECK_THAT(written.error().message, Catch::Contains("state.json"));
    CHECK(entries_in(dir.path()) == 1);
}

TEST_CASE("an append refuses a FIFO, a device, a link or another account's file at once", "[lab][own_files]") {
    TempDir dir;
    const auto journal = dir.path() / "journal.jsonl";
    posix::PosixOwnFiles files;
    std::string says;
    SECTION("a FIFO nobody reads") {
        REQUIRE(::mkfifo(journal.c_str(), 0666) == 0);
        says = "a FIFO (named pipe)";
    }
    SECTION("a FIFO someone reads") {
        REQUIRE(::mkfifo(journal.c_str(), 0666) == 0);
        says = "a FIFO (named pipe)";
        const int reader = ::open(journal.c_str(), O_RDONLY | O_NONBLOCK);
        REQUIRE(reader >= 0);
        const auto appended = quickly([&] { return files.append(journal, "{}\n", kMode0640, 1 << 20); });
        ::close(reader);
        REQUIRE_FALSE(appended.ok());
        CHECK_THAT(appended.error().message, Catch::Contains(says));
        return;
    }
    SECTION("a character device") {
        if (::geteuid() != 0) return;
        REQUIRE(::mknod(journal.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
        says = "a character device";
    }
    SECTION("a link") {
        const auto victim = dir.write("victim", "precious\n");
        fs::create_symlink(victim, journal);
        says = "a symbolic link";
    }
    SECTION("a link to nothing") {
        fs::create_symlink(dir.path() / "nowhere", journal);
        says = "a symbolic link";
    }
    SECTION("a file of another account") {
        if (::geteuid() != 0) return;
        std::ofstream(journal) << "{}\n";
        REQUIRE(::chown(journal.c_str(), 65534, 65534) == 0);
        says = "belongs to user id 65534";
    }
    const auto appended = quickly([&] { return files.append(journal, "{}\n", kMode0640, 1 << 20); });
    REQUIRE_FALSE(appended.ok());
    CHECK_THAT(appended.error().message, Catch::Contains(says) && Catch::Contains(journal.string()));
    CHECK_FALSE(fs::exists(dir.path() / "nowhere"));
    if (fs::exists(dir.path() / "victim")) CHECK(read_text(dir.path() / "victim") == "precious\n");
}

TEST_CASE("an append creates the journal with its mode, adds whole records and says when the file is full",
          "[lab][own_files]") {
    TempDir dir;
    const auto journal = dir.path() / "journal.jsonl";
    posix::PosixOwnFiles files;
    ::umask(022);
    auto first = files.append(journal, "{\"a\":1}\n", kMode0640, 16);
    REQUIRE(first.ok());
    CHECK(first.value() == OwnFiles::Appended::yes);
    CHECK((lstat_of(journal).st_mode & 07777) == 0640);
    auto second = files.append(journal, "{\"b\":2}\n", kMode0640, 16);
    REQUIRE(second.ok());
    CHECK(second.value() == OwnFiles::Appended::yes);
    auto third = files.append(journal, "{\"c\":3}\n", kMode0640, 16);
    REQUIRE(third.ok());
    CHECK(third.value() == OwnFiles::Appended::full);
    CHECK(read_text(journal) == "{\"a\":1}\n{\"b\":2}\n");
}

TEST_CASE("a read refuses a FIFO or a link at once and reads nothing when there is no file", "[lab][own_files]") {
    TempDir dir;
    posix::PosixOwnFiles files;
    const auto state = dir.path() / "state.json";
    auto nothing = files.read(state, 1024);
    REQUIRE(nothing.ok());
    CHECK_FALSE(nothing.value().has_value());
    REQUIRE(::mkfifo(state.c_str(), 0666) == 0);
    auto fifo = quickly([&] { return files.read(state, 1024); });
    REQUIRE_FALSE(fifo.ok());
    CHECK_THAT(fifo.error().message, Catch::Contains("FIFO"));
    fs::remove(state);
    fs::create_symlink(dir.write("elsewhere.json", "{}"), state);
    auto link = files.read(state, 1024);
    REQUIRE_FALSE(link.ok());
    CHECK_THAT(link.error().message, Catch::Contains("symbolic link"));
    fs::remove(state);
    dir.write("state.json", std::string(2048, 'x'));
    auto large = files.read(state, 1024);
    REQUIRE_FALSE(large.ok());
    CHECK_THAT(large.error().message, Catch::Contains("larger than 1 KiB"));
}

TEST_CASE("leftover temporaries are removed, folders and other files are not", "[lab][own_files]") {
    TempDir dir;
    dir.write(".state.json.certheal-AbCdEfGhIjKl", "half");
    dir.write("certheal.prom.tmp", "old version's");
    fs::create_symlink("/etc/passwd", dir.path() / ".status.json.certheal-0123456789ab");
    REQUIRE(::mkfifo((dir.path() / "status.json.tmp").c_str(), 0666) == 0);
    fs::create_directories(dir.path() / ".x.certheal-AAAAAAAAAAAA");
    dir.write("journal.jsonl", "{}\n");
    dir.write(".hidden.certheal-notrandom", "kept");
    CHECK(posix::remove_leftover_temporaries(dir.path()) == 4);
    CHECK(fs::exists("/etc/passwd"));
    CHECK(fs::exists(dir.path() / ".x.certheal-AAAAAAAAAAAA"));
    CHECK(fs::exists(dir.path() / "journal.jsonl"));
    CHECK(fs::exists(dir.path() / ".hidden.certheal-notrandom"));
    CHECK(entries_in(dir.path()) == 3);
}

TEST_CASE("the folder check names who else could change a state folder", "[lab][own_files]") {
    TempDir dir;
    const auto state = dir.path() / "state";
    fs::create_directories(state);
    ::chmod(state.c_str(), 0755);
    CHECK_FALSE(posix::folder_protection_problem(state, "the state folder"));
    CHECK_FALSE(posix::folder_protection_problem(state / "not" / "yet", "the state folder"));

    ::chmod(state.c_str(), 0770);
    auto group = posix::folder_protection_problem(state, "the state folder");
    REQUIRE(group);
    CHECK_THAT(*group, Catch::Contains("the state folder " + state.string() + " can be written by its group"));

    ::chmod(state.c_str(), 01777);  // sticky and ours: others may add files, never touch ours
    CHECK_FALSE(posix::folder_protection_problem(state, "the state folder"));
    ::chmod(state.c_str(), 0755);

    const auto link = dir.path() / "link-to-state";
    fs::create_symlink(state, link);
    CHECK_FALSE(posix::folder_protection_problem(link, "the state folder"));

    if (::geteuid() == 0) {
        REQUIRE(::chown(state.c_str(), 65534, 65534) == 0);
        auto owner = posix::folder_protection_problem(state, "the state folder");
        REQUIRE(owner);
        CHECK_THAT(*owner, Catch::Contains("owned by user id 65534 (nobody)"));
        // Through a link too: the folder it leads to is judged.
        auto through = posix::folder_protection_problem(link, "the state folder");
        REQUIRE(through);
        CHECK_THAT(*through, Catch::Contains("user id 65534"));
        REQUIRE(::chown(state.c_str(), 0, 0) == 0);

        // A folder above, owned by another user, could swap the state folder.
        const auto alice = dir.path() / "alice";
        fs::create_directories(alice / "state");
        REQUIRE(::chown(alice.c_str(), 65534, 65534) == 0);
        auto above = posix::folder_protection_problem(alice / "state", "the state folder");
        REQUIRE(above);
        CHECK_THAT(*above, Catch::Contains(alice.string() + ", a folder on the way to the state folder"));
        // And one that does not exist yet under it.
        CHECK(posix::folder_protection_problem(alice / "later", "the state folder"));
    }
}
