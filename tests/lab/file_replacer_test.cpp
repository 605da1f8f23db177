// PosixFileReplacer on real files: the web server's CA bundle keeps its owner and mode, a link
// to it stays a link, and a failure leaves the file as it was.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "service/posix/file_replacer.hpp"
#include "support/pki.hpp"

using namespace certheal;
using certheal::test::TempDir;

namespace {

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

struct stat stat_of(const std::filesystem::path& file) {
    struct stat info {};
    REQUIRE(::stat(file.c_str(), &info) == 0);
    return info;
}

}  // namespace

TEST_CASE("a replaced file keeps its mode and owner and gets the new contents", "[lab][files]") {
    TempDir dir;
    const auto bundle = dir.write("client-ca.pem", "old\n");
    REQUIRE(::chmod(bundle.c_str(), 0640) == 0);
    const bool root = ::geteuid() == 0;
    if (root) REQUIRE(::chown(bundle.c_str(), 4321, 4322) == 0);  // an account like nginx's
    const auto before = stat_of(bundle);

    PosixFileReplacer replacer;
    auto replaced = replacer.replace_contents(bundle, "old\nnew\n");
    INFO((replaced ? std::string() : replaced.error().message));
    REQUIRE(replaced.ok());
    const auto after = stat_of(bundle);
    CHECK(read_text(bundle) == "old\nnew\n");
    CHECK((after.st_mode & 07777) == 0640);
    CHECK(after.st_uid == before.st_uid);
    CHECK(after.st_gid == before.st_gid);
    if (root) CHECK(after.st_uid == 4321u);
    CHECK(after.st_ino != before.st_ino);  // a new file renamed into place, not a rewrite in place
    // Nothing is left beside it.
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("a bundle reached through a symbolic link is replaced and the link stays", "[lab][files]") {
    TempDir dir;
    const auto target = dir.write("real/client-ca.pem", "old\n");
    const auto link = dir.path() / "client-ca.pem";
    std::filesystem::create_symlink(target, link);
    PosixFileReplacer replacer;
    REQUIRE(replacer.replace_contents(link, "new\n").ok());
    CHECK(std::filesystem::is_symlink(link));
    CHECK(read_text(target) == "new\n");
}

TEST_CASE("replacing a file that does not exist or is a folder fails and creates nothing", "[lab][files]") {
    TempDir dir;
    PosixFileReplacer replacer;
    auto missing = replacer.replace_contents(dir.path() / "absent.pem", "x");
    REQUIRE_FALSE(missing.ok());
    CHECK_THAT(missing.error().message, Catch::Contains("absent.pem"));
    std::filesystem::create_directory(dir.path() / "folder");
    auto folder = replacer.replace_contents(dir.path() / "folder", "x");
    REQUIRE_FALSE(folder.ok());
    CHECK_THAT(folder.error().message, Catch::Contains("is not a regular file"));
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);
}
