// The repair lock (flock on repair.lock) and the instance lock (a record lock on certheal.pid)
// on real files: a lock file replaced between the open and the lock is noticed and the lock
// taken on what the name names; a lock that cannot be made (a folder at its name, a link, an
// immutable state folder) is a Failure that says why; the pid file goes only while it is ours.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/posix/file_locks.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"

using certheal::test::read_text;
using namespace certheal;
using certheal::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Puts a fresh file at `file`'s name, as another repair (or an admin) that deleted and made it
// again would: whoever opens the name now gets a different file.
void replace_file(const fs::path& file) {
    const auto fresh = file.string() + ".fresh";
    std::ofstream(fresh).close();
    ::chmod(fresh.c_str(), 0600);
    fs::rename(fresh, file);
}

}  // namespace

TEST_CASE("a repair lock file replaced between open and flock is locked again at its new file", "[lab][locks]") {
    TempDir dir;
    const auto file = dir.path() / "repair.lock";
    int opens = 0;
    posix::FileRepairLock first(file, [&] {
        if (opens++ == 0) replace_file(file);
    });
    posix::FileRepairLock second(file);
    auto taken = first.try_acquire();
    REQUIRE(taken.ok());
    REQUIRE(taken.value());
    CHECK(opens == 2);  // noticed, and started again
    // The name's file is the locked one: nobody else gets the lock now.
    auto also = second.try_acquire();
    REQUIRE(also.ok());
    CHECK_FALSE(also.value());
    first.release();
    auto after = second.try_acquire();
    REQUIRE(after.ok());
    CHECK(after.value());
}

TEST_CASE("a repair lock that cannot be made is a failure that says why", "[lab][locks]") {
    TempDir dir;
    const auto file = dir.path() / "repair.lock";
    std::string says;
    SECTION("a folder at its name") {
        fs::create_directories(file);
        says = "it is a folder";
    }
    SECTION("a link at its name") {
        fs::create_symlink(dir.write("victim", "precious\n"), file);
        says = "it is a symbolic link";
    }
    SECTION("an immutable state folder") {
        if (::geteuid() != 0 || std::system(("chattr +i " + dir.path().string() + " 2>/dev/null").c_str()) != 0) {
            WARN("chattr +i is not possible here: nothing checked");
            return;
        }
        says = "immutable";
    }
    posix::FileRepairLock lock(file);
    auto taken = lock.try_acquire();
    (void)std::system(("chattr -i " + dir.path().string() + " 2>/dev/null").c_str());
    REQUIRE_FALSE(taken.ok());
    CHECK_THAT(taken.error().message, Catch::Contains(says) && Catch::Contains(file.string()));
    if (fs::exists(dir.path() / "victim")) CHECK(read_text(dir.path() / "victim") == "precious\n");
}

TEST_CASE("the instance lock writes the pid, notices a replaced file, and removes only its own pid file",
          "[lab][locks]") {
    TempDir dir;
    const auto file = dir.path() / "certheal.pid";
    int opens = 0;
    auto taken = posix::InstanceLock::take(file, [&] {
        if (opens++ == 0) replace_file(file);
    });
    REQUIRE(taken.ok());
    REQUIRE(taken.value().lock);
    CHECK(opens == 2);
    CHECK(read_text(file) == std::to_string(::getpid()) + "\n");
    CHECK(((fs::status(file).permissions() & fs::perms::others_read) != fs::perms::none));

    SECTION("its own file goes with it") {
        taken.value().lock.reset();
        CHECK_FALSE(fs::exists(file));
    }
    SECTION("a file someone put in its place stays") {
        replace_file(file);
        std::ofstream(file) << "12345\n";
        taken.value().lock.reset();
        CHECK(read_text(file) == "12345\n");
    }
}

TEST_CASE("nobody holds a pid file that is stale, a link or a folder", "[lab][locks]") {
    TempDir dir;
    const auto file = dir.path() / "certheal.pid";
    CHECK_FALSE(posix::instance_lock_holder(file));
    std::ofstream(file) << ::getppid() << "\n";  // a live process, but no lock
    CHECK_FALSE(posix::instance_lock_holder(file));
    fs::remove(file);
    fs::create_directories(file);
    CHECK_FALSE(posix::instance_lock_holder(file));
    auto refused = posix::InstanceLock::take(file);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("pid file") && Catch::Contains("a folder"));
}
