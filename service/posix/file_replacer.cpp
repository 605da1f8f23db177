#include "service/posix/file_replacer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/base/temporary_name.hpp"
#include "service/posix/file_descriptor.hpp"
#include "service/posix/own_files.hpp"

namespace certheal {
namespace {

using posix::errno_failure;
using posix::mode_text;
using posix::write_all;

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// The extended attributes of `from`, names and values (POSIX ACLs are system.posix_acl_access
// and system.posix_acl_default; security labels are security.*), read through descriptors.
// Nothing when the file system has none.
struct ExtendedAttribute {
    std::string name;
    std::vector<char> value;
};
Result<std::vector<ExtendedAttribute>> extended_attributes(int from, const std::string& shown) {
    std::vector<ExtendedAttribute> attributes;
    std::vector<char> names;
    for (int round = 0; round < 4; ++round) {  // the list may grow between the two calls
        const ssize_t size = ::flistxattr(from, nullptr, 0);
        if (size < 0) {
            if (errno == ENOTSUP) return attributes;
            return errno_failure(errno, "certheal could not list the extended attributes (ACL, security labels) of " + shown);
        }
        names.resize(static_cast<std::size_t>(size));
        const ssize_t got = size == 0 ? 0 : ::flistxattr(from, names.data(), names.size());
        if (got < 0 && errno == ERANGE) continue;
        if (got < 0) {
            return errno_failure(errno, "certheal could not list the extended attributes (ACL, security labels) of " + shown);
        }
        names.resize(static_cast<std::size_t>(got));
        break;
    }
    for (std::size_t at = 0; at < names.size();) {
        const std::string name(names.data() + at);
        at += name.size() + 1;
        if (name.empty()) continue;
        ExtendedAttribute attribute{name, {}};
        const auto unreadable = [&](int error) {
            std::string what = "certheal could not read the extended attribute ";
            what += name;
            what += " of ";
            what += shown;
            return errno_failure(error, what);
        };
        for (int round = 0; round < 4; ++round) {
            const ssize_t size = ::fgetxattr(from, name.c_str(), nullptr, 0);
            if (size < 0 && errno == ENODATA) break;  // gone meanwhile
            if (size < 0) return unreadable(errno);
            attribute.value.resize(static_cast<std::size_t>(size));
            const ssize_t got = size == 0 ? 0 : ::fgetxattr(from, name.c_str(), attribute.value.data(), attribute.value.size());
            if (got < 0 && errno == ERANGE) continue;
            if (got < 0) return unreadable(errno);
            attribute.value.resize(static_cast<std::size_t>(got));
            attributes.push_back(std::move(attribute));
            break;
        }
    }
    return attributes;
}

class PosixFileToReplace final : public FileToReplace {
public:
    PosixFileToReplace(std::filesystem::path shown, std::string name, FileDescriptor folder, FileDescriptor file,
                       struct stat info, std::string contents)
        : shown_(std::move(shown)),
          name_(std::move(name)),
          folder_(std::move(folder)),
          file_(std::move(file)),
          info_(info),
          contents_(std::move(contents)) {}

    const std::string& contents() const override { return contents_; }
    std::uint64_t link_count() const override { return static_cast<std::uint64_t>(info_.st_nlink); }

    Result<Done> replace(const std::string& contents) override {
        const std::string shown = shown_.string();
        remove_leftovers();
        // The old file's extended attributes first: a bundle whose ACL cannot be read is not
        // replaced by one without it.
        auto attributes = extended_attributes(file_.get(), shown);
        if (!attributes) return attributes.error();

        std::string temporary;
        FileDescriptor fd;
        for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
            temporary = temporary_name_for(name_);
            const int opened = ::openat(folder_.get(), temporary.c_str(),
                                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0600);
            if (opened >= 0) {
                fd = FileDescriptor(opened);
            } else if (errno != EEXIST) {
                return errno_failure(errno, "certheal could not create a temporary file beside " + shown);
            }
        }
        if (!fd) {
            return Failure{std::make_error_code(std::errc::file_exists),
                           "certheal could not create a temporary file beside " + shown + ": every random name was taken"};
        }
        struct Cleanup {
            int folder;
            const std::string& name;
            bool armed = true;
            ~Cleanup() {
                if (armed) ::unlinkat(folder, name.c_str(), 0);
            }
        } cleanup{folder_.get(), temporary};

        const std::string what = "certheal could not write the new " + shown;
        if (!write_all(fd.get(), contents)) return errno_failure(errno, what);
        // The web server reads this file as its owner, maybe through an ACL: the new one gets
        // the same owner, mode, ACL and labels before it takes the old one's place, so there
        // is no moment with other permissions.
        if (::fchown(fd.get(), info_.st_uid, info_.st_gid) != 0) {
            return errno_failure(errno, "certheal could not give the new " + shown + " the owner of the old one");
        }
        if (::fchmod(fd.get(), info_.st_mode & 07777) != 0) {
            return errno_failure(errno, "certheal could not give the new " + shown + " the mode of the old one");
        }
        for (const auto& attribute : attributes.value()) {
            if (::fsetxattr(fd.get(), attribute.name.c_str(), attribute.value.data(), attribute.value.size(), 0) != 0) {
                return errno_failure(errno, "certheal could not give the new " + shown + " the extended attribute " +
                                                attribute.name + " of the old one, so it left the bundle as it was");
            }
        }
        if (::fsync(fd.get()) != 0) return errno_failure(errno, what);
        if (::close(fd.release()) != 0) return errno_failure(errno, what);

        // The name must still be the file certheal read: otherwise someone swapped it (for a
        // link to another file, say) and certheal writes nothing.
        struct stat now {};
        if (::fstatat(folder_.get(), name_.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 || !same_file(now, info_)) {
            return Failure{std::make_error_code(std::errc::operation_canceled),
                           shown + " was replaced by something else while certheal updated it, so certheal wrote "
                                   "nothing; check who else changes that file, then repair again"};
        }
        if (::renameat(folder_.get(), temporary.c_str(), folder_.get(), name_.c_str()) != 0) {
            return errno_failure(errno, "certheal could not put the new " + shown + " in place");
        }
        cleanup.armed = false;
        ::fsync(folder_.get());  // the rename itself reaches the disk with the folder
        return success();
    }

private:
    // What an earlier, killed replacement of this file left in its folder.
    void remove_leftovers() {
        const int listing_fd = ::dup(folder_.get());
        if (listing_fd < 0) return;
        DIR* listing = ::fdopendir(listing_fd);
        if (listing == nullptr) {
            ::close(listing_fd);
            return;
        }
        ::rewinddir(listing);
        std::vector<std::string> leftovers;
        while (const dirent* entry = ::readdir(listing)) {
            if (is_temporary_name_of(entry->d_name, name_)) leftovers.emplace_back(entry->d_name);
        }
        ::closedir(listing);
        for (const auto& leftover : leftovers) {
            struct stat info {};
            if (::fstatat(folder_.get(), leftover.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) continue;
            if (S_ISREG(info.st_mode) && info.st_uid == ::geteuid()) ::unlinkat(folder_.get(), leftover.c_str(), 0);
        }
    }

    std::filesystem::path shown_;
    std::string name_;
    FileDescriptor folder_;
    FileDescriptor file_;
    struct stat info_;
    std::string contents_;
};

Failure refused(std::errc code, const std::string& message) { return Failure{std::make_error_code(code), message}; }

// What the open bundle holds, at most `limit` bytes (it may grow while it is read).
Result<std::string> read_bundle(int fd, std::size_t limit, const std::string& shown) {
    std::string contents;
    char chunk[64 * 1024];
    for (;;) {
        const ssize_t got = ::read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return errno_failure(errno, "certheal could not read the bundle " + shown);
        if (got == 0) return contents;
        contents.append(chunk, static_cast<std::size_t>(got));
        if (contents.size() > limit) {
            return refused(std::errc::file_too_large, "the bundle " + shown + " grew past " + std::to_string(limit / 1024) +
                                                          " KiB while certheal read it");
        }
    }
}

}  // namespace

Result<std::unique_ptr<FileToReplace>> PosixFileReplacer::open(const std::filesystem::path& file, std::size_t limit) {
    std::error_code ec;
    const auto configured = std::filesystem::absolute(file, ec).lexically_normal();
    struct stat looked_at_name {};
    if (::lstat(configured.c_str(), &looked_at_name) != 0) {
        if (errno == ENOENT) {
            return refused(std::errc::no_such_file_or_directory, "the bundle \"" + file.string() + "\" does not exist");
        }
        return errno_failure(errno, "certheal could not look at the bundle " + file.string());
    }
    const std::filesystem::path target = std::filesystem::canonical(configured, ec);
    if (ec) return Failure{ec, "certheal could not find the bundle " + file.string() + ": " + ec.message()};
    const std::string shown = target == configured ? target.string() : target.string() + " (through " + file.string() + ")";

    // Who could change the folders on the way, to the link and to the file it leads to.
    for (const auto& folder : {configured.parent_path(), target.parent_path()}) {
        if (auto problem = posix::bundle_folder_problem(folder)) {
            return refused(std::errc::permission_denied,
                           "certheal does not change the bundle " + shown + ": " + *problem +
                               ". It writes the bundle with full privileges; only root may be able to change its "
                               "folder");
        }
    }
    const int folder_raw = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (folder_raw < 0) return errno_failure(errno, "certheal could not open the folder of the bundle " + shown);
    FileDescriptor folder(folder_raw);
    const std::string name = target.filename().string();

    struct stat looked {};
    if (::fstatat(folder.get(), name.c_str(), &looked, AT_SYMLINK_NOFOLLOW) != 0) {
        return errno_failure(errno, "certheal could not look at the bundle " + shown);
    }
    if (S_ISDIR(looked.st_mode)) {
        return refused(std::errc::is_a_directory, "the bundle " + shown + " is a folder, not a file");
    }
    if (!S_ISREG(looked.st_mode)) {
        return refused(std::errc::invalid_argument, "the bundle " + shown + " is " + posix::describe_file_type(looked.st_mode) +
                                                        ", not a regular file; certheal only adds to a PEM file the web "
                                                        "server reads");
    }
    const int file_raw = ::openat(folder.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (file_raw < 0) {
        if (errno == ELOOP) {
            return refused(std::errc::operation_canceled,
                           "the bundle " + shown + " became a symbolic link while certheal opened it; certheal wrote nothing");
        }
        return errno_failure(errno, "certheal could not open the bundle " + shown);
    }
    FileDescriptor opened(file_raw);
    struct stat info {};
    if (::fstat(opened.get(), &info) != 0) return errno_failure(errno, "certheal could not look at the bundle " + shown);
    if (!same_file(info, looked) || !S_ISREG(info.st_mode)) {
        return refused(std::errc::operation_canceled,
                       "the bundle " + shown + " was replaced while certheal opened it; certheal wrote nothing");
    }
    if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return refused(std::errc::permission_denied,
                       "certheal does not change the bundle " + shown + ": it can be written by its group or by every user (mode " +
                           mode_text(info.st_mode) +
                           "), so whoever can write it decides what the web server trusts. Make it writable by its owner only");
    }
    if (static_cast<std::uintmax_t>(info.st_size) > limit) {
        return refused(std::errc::file_too_large, "the bundle " + shown + " is larger than " +
                                                      std::to_string(limit / 1024) +
                                                      " KiB, more than such a file ever holds; check that it is the right file");
    }
    auto contents = read_bundle(opened.get(), limit, shown);
    if (!contents) return contents.error();
    return std::unique_ptr<FileToReplace>(std::make_unique<PosixFileToReplace>(
        shown, name, std::move(folder), std::move(opened), info, std::move(contents.value())));
}

}  // namespace certheal
