// PosixFileReplacer on real files: the web server's CA bundle keeps its owner, mode, ACL and
// extended attributes; a link to it stays a link; it is read once and replaced only while its
// name still names the file that was read, so a link swapped in meanwhile never makes root
// write elsewhere; a bundle or folder others can change is refused; a failure leaves the file
// as it was.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/repair/certificate_trust.hpp"
#include "service/posix/file_replacer.hpp"
#include "support/fakes.hpp"
#include "support/files.hpp"
#include "support/lab.hpp"
#include "support/pki.hpp"
#include "support/shared_pki.hpp"

using certheal::test::read_text;
using namespace certheal;
using certheal::test::shared_pki;
using certheal::test::TempDir;
using namespace std::chrono_literals;

namespace {

struct stat stat_of(const std::filesystem::path& file) {
    struct stat info {};
    REQUIRE(::stat(file.c_str(), &info) == 0);
    return info;
}

std::size_t entries_in(const std::filesystem::path& folder) {
    return static_cast<std::size_t>(
        std::distance(std::filesystem::directory_iterator(folder), std::filesystem::directory_iterator()));
}

TrustCaStep into_bundle(const std::filesystem::path& certificate, const std::filesystem::path& bundle) {
    TrustCaStep step;
    step.certificate = certificate;
    step.target = PemBundleTarget{bundle};
    return step;
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
    CHECK(entries_in(dir.path()) == 1);    // nothing is left beside it
}

TEST_CASE("a bundle reached through a symbolic link is replaced and the link stays", "[lab][files]") {
    TempDir dir;
    const auto target = dir.write("real/client-ca.pem", "old\n");
    ::chmod(target.parent_path().c_str(), 0755);
    const auto link = dir.path() / "client-ca.pem";
    std::filesystem::create_symlink(target, link);
    PosixFileReplacer replacer;
    auto replaced = replacer.replace_contents(link, "new\n");
    INFO((replaced ? std::string() : replaced.error().message));
    REQUIRE(replaced.ok());
    CHECK(std::filesystem::is_symlink(link));
    CHECK(read_text(target) == "new\n");
}

TEST_CASE("replacing a file that does not exist, a folder or a FIFO fails at once and creates nothing", "[lab][files]") {
    TempDir dir;
    PosixFileReplacer replacer;
    auto missing = replacer.replace_contents(dir.path() / "absent.pem", "x");
    REQUIRE_FALSE(missing.ok());
    CHECK_THAT(missing.error().message, Catch::Contains("absent.pem") && Catch::Contains("does not exist"));
    std::filesystem::create_directory(dir.path() / "folder");
    auto folder = replacer.replace_contents(dir.path() / "folder", "x");
    REQUIRE_FALSE(folder.ok());
    CHECK_THAT(folder.error().message, Catch::Contains("is a folder"));
    REQUIRE(::mkfifo((dir.path() / "fifo.pem").c_str(), 0600) == 0);
    const auto started = std::chrono::steady_clock::now();
    auto fifo = replacer.replace_contents(dir.path() / "fifo.pem", "x");
    CHECK(std::chrono::steady_clock::now() - started < 2s);
    REQUIRE_FALSE(fifo.ok());
    CHECK_THAT(fifo.error().message, Catch::Contains("FIFO"));
    CHECK(entries_in(dir.path()) == 2);
}

TEST_CASE("a bundle that its group or every user can write, or in a folder others can write, is refused with the reason",
          "[lab][files]") {
    TempDir dir;
    PosixFileReplacer replacer;
    SECTION("the bundle is group-writable") {
        const auto bundle = dir.write("client-ca.pem", "old\n");
        REQUIRE(::chmod(bundle.c_str(), 0664) == 0);
        auto refused = replacer.replace_contents(bundle, "new\n");
        REQUIRE_FALSE(refused.ok());
        CHECK_THAT(refused.error().message, Catch::Contains("can be written by its group or by every user (mode 0664)"));
        CHECK(read_text(bundle) == "old\n");
    }
    SECTION("its folder is writable by every user") {
        const auto bundle = dir.write("shared/client-ca.pem", "old\n");
        REQUIRE(::chmod(bundle.parent_path().c_str(), 01777) == 0);
        auto refused = replacer.replace_contents(bundle, "new\n");
        REQUIRE_FALSE(refused.ok());
        CHECK_THAT(refused.error().message, Catch::Contains("mode 1777"));
        CHECK(read_text(bundle) == "old\n");
    }
    SECTION("its folder belongs to another user") {
        if (::geteuid() != 0) return;
        const auto bundle = dir.write("alice/client-ca.pem", "old\n");
        REQUIRE(::chown(bundle.parent_path().c_str(), 65534, 65534) == 0);
        auto refused = replacer.replace_contents(bundle, "new\n");
        REQUIRE_FALSE(refused.ok());
        CHECK_THAT(refused.error().message, Catch::Contains("is owned by user id 65534"));
        CHECK(read_text(bundle) == "old\n");
    }
}

TEST_CASE("another user swapping a bundle for a link while repairs run never makes root write elsewhere",
          "[lab][files][race]") {
    if (::geteuid() != 0) {
        WARN("not root: nothing checked");
        return;
    }
    // The bundle's folder belongs to another account (nobody), which swaps the bundle's name
    // back and forth between a PEM file and a link to a file of root's, as fast as it can,
    // while certheal (root) runs trust_ca again and again.
    TempDir dir;
    const auto folder = dir.path() / "alice";
    std::filesystem::create_directories(folder);
    REQUIRE(::chown(folder.c_str(), 65534, 65534) == 0);
    const auto bundle = folder / "client-ca.pem";
    const std::string original = read_text(shared_pki().other_ca_cert);
    const auto victim = dir.write("root-only/trusted.pem", original);
    const auto victim_inode = stat_of(victim).st_ino;
    { std::ofstream(bundle) << original; }
    REQUIRE(::chown(bundle.c_str(), 65534, 65534) == 0);

    const std::string swap_link = (folder / "swap-link").string(), swap_file = (folder / "swap-file").string();
    const pid_t swapper = ::fork();
    REQUIRE(swapper >= 0);
    if (swapper == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
        const std::string& link = swap_link;
        const std::string& file = swap_file;
        const auto until = std::chrono::steady_clock::now() + 3s;
        while (std::chrono::steady_clock::now() < until) {
            ::unlink(link.c_str());
            if (::symlink(victim.c_str(), link.c_str()) == 0) ::rename(link.c_str(), bundle.c_str());
            // Only system calls here: the child of a threaded process must not allocate.
            const int out = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out >= 0) {
                (void)!::write(out, original.data(), original.size());
                ::close(out);
                ::rename(file.c_str(), bundle.c_str());
            }
        }
        ::_exit(0);
    }
    test::FakeCertificateStores stores;
    PosixFileReplacer replacer;
    int attempts = 0, refused = 0;
    std::string reason;
    const auto until = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < until) {
        ++attempts;
        auto report = trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, replacer, true);
        if (!report) {
            ++refused;
            reason = report.error().message;
        }
    }
    int status = 0;
    ::waitpid(swapper, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    INFO(attempts << " attempts, " << refused << " refused; the last reason: " << reason);
    CHECK(read_text(victim) == original);
    CHECK(stat_of(victim).st_ino == victim_inode);
    CHECK(refused == attempts);
    CHECK_THAT(reason, Catch::Contains("owned by user id 65534"));
}

TEST_CASE("a bundle whose name was swapped after it was opened is not replaced, and nothing else is written",
          "[lab][files][race]") {
    TempDir dir;
    const auto bundle = dir.write("client-ca.pem", "old\n");
    const auto victim = dir.write("victims/other.pem", "precious\n");
    PosixFileReplacer replacer;
    auto opened = replacer.open(bundle, 1 << 20);
    REQUIRE(opened.ok());
    CHECK(opened.value()->contents() == "old\n");
    SECTION("for a link") {
        std::filesystem::remove(bundle);
        std::filesystem::create_symlink(victim, bundle);
    }
    SECTION("for another file") {
        const auto other = dir.write("client-ca.pem.new", "someone else's\n");
        std::filesystem::rename(other, bundle);
    }
    auto replaced = opened.value()->replace("old\nnew\n");
    REQUIRE_FALSE(replaced.ok());
    CHECK_THAT(replaced.error().message, Catch::Contains("was replaced by something else"));
    CHECK(read_text(victim) == "precious\n");
    CHECK(read_text(bundle) != "old\nnew\n");
    CHECK(entries_in(dir.path()) == 2);  // no temporary left behind
}

TEST_CASE("a bundle's ACL and extended attributes survive a repair", "[lab][files][acl]") {
    if (std::system("command -v setfacl >/dev/null && command -v getfacl >/dev/null") != 0) {
        WARN("setfacl/getfacl are missing (scripts/setup installs the acl package): nothing checked");
        return;
    }
    TempDir dir;
    const auto bundle = dir.write("client-ca.pem", read_text(shared_pki().other_ca_cert));
    REQUIRE(::chmod(bundle.c_str(), 0600) == 0);
    // The web server's account reads the bundle through an ACL entry, not through the mode.
    REQUIRE(std::system(("setfacl -m u:www-data:r " + bundle.string()).c_str()) == 0);
    const std::string label = "certheal-test-label";
    const bool has_user_xattr = ::setxattr(bundle.c_str(), "user.certheal_test", label.data(), label.size(), 0) == 0;
    const auto acl_before = test::run_command({"getfacl", "--omit-header", "--absolute-names", bundle.string()});
    const auto mode_before = stat_of(bundle).st_mode & 07777;
    REQUIRE_THAT(acl_before.output, Catch::Contains("user:www-data:r--"));

    test::FakeCertificateStores stores;
    PosixFileReplacer replacer;
    auto report = trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, replacer, true);
    INFO((report ? std::string() : report.error().message));
    REQUIRE(report.ok());
    REQUIRE(report.value().changed);

    const auto acl_after = test::run_command({"getfacl", "--omit-header", "--absolute-names", bundle.string()});
    CHECK(acl_after.output == acl_before.output);
    CHECK((stat_of(bundle).st_mode & 07777) == mode_before);  // 0640: the ACL's mask shows as the group bits
    if (has_user_xattr) {
        char value[64] = {};
        const auto size = ::getxattr(bundle.c_str(), "user.certheal_test", value, sizeof value);
        CHECK(std::string(value, size > 0 ? static_cast<std::size_t>(size) : 0) == label);
    }
    // And www-data really reads it.
    if (::geteuid() == 0) {
        const auto read = test::run_command({"setpriv", "--reuid=33", "--regid=33", "--clear-groups", "head", "-c", "10",
                                             bundle.string()});
        CHECK(read.exit_code == 0);
    }
}

TEST_CASE("a bundle with other names (hard links) says so, and the other name keeps the old contents", "[lab][files]") {
    TempDir dir;
    const std::string original = read_text(shared_pki().other_ca_cert);
    const auto bundle = dir.write("client-ca.pem", original);
    const auto other = dir.path() / "also-client-ca.pem";
    std::filesystem::create_hard_link(bundle, other);
    test::FakeCertificateStores stores;
    PosixFileReplacer replacer;
    auto report = trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, replacer, true);
    INFO((report ? std::string() : report.error().message));
    REQUIRE(report.ok());
    CHECK(report.value().changed);
    CHECK(report.value().hard_links == 2);
    CHECK(read_text(other) == original);
    CHECK(read_text(bundle) != original);
    CHECK(stat_of(bundle).st_nlink == 1);
}

TEST_CASE("what a killed replacement left beside the bundle is removed by the next one", "[lab][files]") {
    TempDir dir;
    const auto bundle = dir.write("client-ca.pem", "old\n");
    const auto leftover = dir.write(".client-ca.pem.certheal-AbCdEfGhIjKl", "half");
    const auto unrelated = dir.write(".other.pem.certheal-AbCdEfGhIjKl", "not this bundle's");
    PosixFileReplacer replacer;
    REQUIRE(replacer.replace_contents(bundle, "new\n").ok());
    CHECK_FALSE(std::filesystem::exists(leftover));
    CHECK(std::filesystem::exists(unrelated));
}
