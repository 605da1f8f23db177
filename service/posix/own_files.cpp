#include "service/posix/own_files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <system_error>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include "core/base/temporary_name.hpp"

namespace certheal::posix {
namespace {

std::string quoted(const std::filesystem::path& path) { return path.string(); }

bool trusted_owner(uid_t uid) { return uid == 0 || uid == ::geteuid(); }

// The refusal for something that is not a regular file of ours at `file`.
Failure refused(const std::filesystem::path& file, std::string_view what, const std::string& why) {
    return Failure{std::make_error_code(std::errc::permission_denied),
                   "certheal did not open " + std::string(what) + " " + quoted(file) + ": " + why +
                       ". certheal writes it with full privileges and never follows a link or writes into a FIFO, a "
                       "device or a file another account put there; remove it, and certheal makes a new one"};
}

std::string not_regular_reason(mode_t mode) {
    return "it is " + describe_file_type(mode) + ", not a regular file";
}

// Reads what `fd` holds, at most `limit` bytes; nullopt (errno set) on a read error, and
// `too_large` when there is more.
std::optional<std::string> read_bounded(int fd, std::size_t limit, bool& too_large) {
    too_large = false;
    std::string contents;
    char chunk[64 * 1024];
    for (;;) {
        const ssize_t got = ::read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return std::nullopt;
        if (got == 0) return contents;
        contents.append(chunk, static_cast<std::size_t>(got));
        if (contents.size() > limit) {
            too_large = true;
            return contents;
        }
    }
}

// Every folder a path goes through, outermost first, each once (symbolic links resolved;
// parts that do not exist yet left out).
void collect_chain(const std::filesystem::path& folder, std::vector<std::filesystem::path>& chain,
                   std::set<std::filesystem::path>& seen) {
    std::error_code error;
    const auto absolute = std::filesystem::absolute(folder, error).lexically_normal();
    if (error) return;
    // Every prefix, resolved: a link on the way is looked at in the folder that holds it, and
    // then where it leads.
    std::filesystem::path prefix;
    std::vector<std::filesystem::path> resolved_prefixes;
    for (const auto& part : absolute) {
        prefix /= part;
        if (part.empty()) continue;
        const auto resolved = std::filesystem::weakly_canonical(prefix, error);
        if (error) return;
        resolved_prefixes.push_back(resolved);
    }
    for (const auto& resolved : resolved_prefixes) {
        std::filesystem::path walk;
        for (const auto& part : resolved) {
            walk /= part;
            if (part.empty()) continue;
            struct stat info {};
            if (::lstat(walk.c_str(), &info) != 0) break;  // not there yet
            if (seen.insert(walk).second) chain.push_back(walk);
        }
    }
}

enum class FinalRule { own_files, bundle };

std::optional<std::string> chain_problem(const std::filesystem::path& folder, std::string_view what, FinalRule rule) {
    std::error_code error;
    const auto target = std::filesystem::weakly_canonical(std::filesystem::absolute(folder, error), error);
    std::vector<std::filesystem::path> chain;
    std::set<std::filesystem::path> seen;
    collect_chain(folder, chain, seen);
    const std::string named = std::string(what) + " " + quoted(folder);
    for (const auto& path : chain) {
        struct stat info {};
        if (::lstat(path.c_str(), &info) != 0) continue;
        const bool is_target = !error && path == target;
        const std::string who = is_target ? named : path.string() + ", a folder on the way to " + named + ",";
        if (S_ISLNK(info.st_mode)) continue;  // the folder holding it is in the chain, and where it leads
        if (!S_ISDIR(info.st_mode)) {
            return who + " is " + describe_file_type(info.st_mode) + ", not a folder";
        }
        if (!trusted_owner(info.st_uid)) {
            return who + " is owned by " + describe_user(info.st_uid) +
                   ", not by root or the account certheal runs as, so that account could " +
                   (is_target ? "put links and FIFOs at the names certheal writes" : "swap the folders below it");
        }
        const bool writable_by_others = (info.st_mode & (S_IWGRP | S_IWOTH)) != 0;
        const bool sticky = (info.st_mode & S_ISVTX) != 0;
        if (!writable_by_others) continue;
        if (is_target) {
            if (rule == FinalRule::own_files && sticky && info.st_uid == ::geteuid()) continue;
            return who + " can be written by its group or by every user (mode " + mode_text(info.st_mode) + ")" +
                   (rule == FinalRule::own_files ? "; it must be writable only by root, or sticky (mode 1777) and "
                                                   "owned by the account certheal runs as"
                                                 : "; another account could put a link or a different file there");
        }
        if (!sticky) {
            return who + " can be written by its group or by every user (mode " + mode_text(info.st_mode) +
                   "), so another account could swap the folders below it";
        }
    }
    return std::nullopt;
}

}  // namespace

std::string mode_text(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

bool write_all(int fd, const std::string& contents) {
    std::size_t written = 0;
    while (written < contents.size()) {
        const ssize_t result = ::write(fd, contents.data() + written, contents.size() - written);
        if (result < 0 && errno == EINTR) continue;
        if (result <= 0) {
            if (result == 0) errno = EIO;
            return false;
        }
        written += static_cast<std::size_t>(result);
    }
    return true;
}

Failure errno_failure(int error, const std::string& what) {
    return Failure{std::error_code(error, std::generic_category()), what + ": " + std::strerror(error)};
}

std::string describe_file_type(mode_t mode) {
    switch (mode & S_IFMT) {
        case S_IFREG: return "a regular file";
        case S_IFDIR: return "a folder";
        case S_IFLNK: return "a symbolic link";
        case S_IFIFO: return "a FIFO (named pipe)";
        case S_IFCHR: return "a character device";
        case S_IFBLK: return "a block device";
        case S_IFSOCK: return "a socket";
        default: return "a file of an unknown kind";
    }
}

std::string describe_user(uid_t uid) {
    std::string text = "user id " + std::to_string(uid);
    struct passwd entry {};
    struct passwd* found = nullptr;
    std::vector<char> buffer(4096);
    if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
        found->pw_name != nullptr) {
        text += " (" + std::string(found->pw_name) + ")";
    }
    return text;
}

Result<OpenedOwnFile> open_own_file(const std::filesystem::path& file, int access, std::optional<mode_t> create_mode,
                                    std::string_view what) {
    const int common = O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    // A few rounds: the file may be removed between the look and the open (a rotation, the
    // holder of a lock going away).
    for (int round = 0; round < 8; ++round) {
        OpenedOwnFile opened;
        if (create_mode) {
            const int fd = ::open(file.c_str(), access | common | O_CREAT | O_EXCL, 0600);
            if (fd >= 0) {
                opened.fd = FileDescriptor(fd);
                if (::fchmod(fd, *create_mode) != 0 || ::fstat(fd, &opened.info) != 0) {
                    const int saved = errno;
                    ::unlink(file.c_str());
                    return errno_failure(saved, "certheal could not set up " + std::string(what) + " " + quoted(file));
                }
                opened.created = true;
                return opened;
            }
            if (errno != EEXIST) {
                const int saved = errno;
                if (saved == ELOOP) return refused(file, what, "it is a symbolic link");
                return errno_failure(saved, "certheal could not create " + std::string(what) + " " + quoted(file));
            }
        }
        // Look before opening: a FIFO or a device is never opened at all (opening some devices
        // does something by itself).
        struct stat looked {};
        if (::lstat(file.c_str(), &looked) != 0) {
            if (errno == ENOENT && create_mode) continue;
            const int saved = errno;
            if (saved == ENOENT) {
                return Failure{std::make_error_code(std::errc::no_such_file_or_directory),
                               std::string(what) + " " + quoted(file) + " does not exist"};
            }
            return errno_failure(saved, "certheal could not look at " + std::string(what) + " " + quoted(file));
        }
        if (!S_ISREG(looked.st_mode)) return refused(file, what, not_regular_reason(looked.st_mode));
        if (looked.st_uid != ::geteuid()) {
            return refused(file, what, "it belongs to " + describe_user(looked.st_uid) +
                                           ", not to the account certheal runs as");
        }
        const int fd = ::open(file.c_str(), access | common);
        if (fd < 0) {
            const int saved = errno;
            if (saved == ENOENT && create_mode) continue;
            if (saved == ELOOP) return refused(file, what, "it is a symbolic link");
            return errno_failure(saved, "certheal could not open " + std::string(what) + " " + quoted(file));
        }
        opened.fd = FileDescriptor(fd);
        if (::fstat(fd, &opened.info) != 0) {
            return errno_failure(errno, "certheal could not look at " + std::string(what) + " " + quoted(file));
        }
        if (opened.info.st_dev != looked.st_dev || opened.info.st_ino != looked.st_ino) continue;  // swapped: again
        return opened;
    }
    return Failure{std::make_error_code(std::errc::resource_unavailable_try_again),
                   "certheal could not open " + std::string(what) + " " + quoted(file) +
                       ": it was replaced every time certheal opened it; check what else writes to that folder"};
}

std::optional<std::string> folder_protection_problem(const std::filesystem::path& folder, std::string_view what) {
    return chain_problem(folder, what, FinalRule::own_files);
}

std::optional<std::string> bundle_folder_problem(const std::filesystem::path& folder) {
    return chain_problem(folder, "the bundle's folder", FinalRule::bundle);
}

std::size_t remove_leftover_temporaries(const std::filesystem::path& folder) {
    std::size_t removed = 0;
    const int folder_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder_fd < 0) return 0;
    DIR* listing = ::fdopendir(folder_fd);
    if (listing == nullptr) {
        ::close(folder_fd);
        return 0;
    }
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(listing)) {
        const std::string_view name(entry->d_name);
        if (is_temporary_name(name) || is_legacy_temporary_name(name)) names.emplace_back(name);
    }
    for (const auto& name : names) {
        struct stat info {};
        if (::fstatat(folder_fd, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(info.st_mode)) continue;
        // unlink never follows a link: what goes is the name, whatever it points to.
        if (::unlinkat(folder_fd, name.c_str(), 0) == 0) ++removed;
    }
    ::closedir(listing);  // closes folder_fd too
    return removed;
}

Result<Done> PosixOwnFiles::write_atomically(const std::filesystem::path& file, const std::string& contents,
                                             std::filesystem::perms mode) {
    const auto folder = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    const std::string name = file.filename().string();
    std::filesystem::path temporary;
    FileDescriptor fd;
    for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
        temporary = folder / temporary_name_for(name);
        const int opened =
            ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0600);
        if (opened >= 0) {
            fd = FileDescriptor(opened);
        } else if (errno != EEXIST) {
            return errno_failure(errno, "certheal could not create a temporary file beside " + quoted(file));
        }
    }
    if (!fd) {
        return Failure{std::make_error_code(std::errc::file_exists),
                       "certheal could not create a temporary file beside " + quoted(file) +
                           ": every random name it tried was taken"};
    }
    // Removed on every way out but the rename.
    struct Cleanup {
        const std::filesystem::path& path;
        bool armed = true;
        ~Cleanup() {
            if (armed) ::unlink(path.c_str());
        }
    } cleanup{temporary};

    if (::fchmod(fd.get(), static_cast<mode_t>(mode) & 07777) != 0) {
        return errno_failure(errno, "certheal could not set the permissions of its new " + quoted(file));
    }
    if (!write_all(fd.get(), contents)) {
        const int saved = errno;
        auto failure = errno_failure(saved, "certheal could not write " + quoted(file));
        if (saved == ENOSPC || saved == EDQUOT) failure.message += " (check free disk space)";
        return failure;
    }
    if (::close(fd.release()) != 0) return errno_failure(errno, "certheal could not write " + quoted(file));
    // rename replaces whatever is at the name (a link included) and never follows it.
    if (::rename(temporary.c_str(), file.c_str()) != 0) {
        return errno_failure(errno, "certheal could not replace " + quoted(file));
    }
    cleanup.armed = false;
    return success();
}

Result<OwnFiles::Appended> PosixOwnFiles::append(const std::filesystem::path& file, const std::string& record,
                                                  std::filesystem::perms mode, std::uintmax_t limit) {
    auto opened = open_own_file(file, O_WRONLY | O_APPEND, static_cast<mode_t>(mode) & 07777, "its journal");
    if (!opened) return opened.error();
    const auto size = static_cast<std::uintmax_t>(opened.value().info.st_size);
    if (size > 0 && size + record.size() > limit) return Appended::full;
    const int fd = opened.value().fd.get();
    if (!write_all(fd, record)) {
        const int saved = errno;
        // Whole or not at all: cut off what part of the record did reach the file.
        (void)::ftruncate(fd, static_cast<off_t>(size));
        auto failure = errno_failure(saved, "certheal could not write to its journal " + quoted(file));
        if (saved == ENOSPC || saved == EDQUOT) failure.message += ". Check free disk space";
        return failure;
    }
    return Appended::yes;
}

Result<std::optional<std::string>> PosixOwnFiles::read(const std::filesystem::path& file, std::size_t limit) {
    struct stat looked {};
    if (::lstat(file.c_str(), &looked) != 0) {
        if (errno == ENOENT) return std::optional<std::string>{};
        return errno_failure(errno, "certheal could not look at " + quoted(file));
    }
    if (!S_ISREG(looked.st_mode)) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       quoted(file) + " is " + describe_file_type(looked.st_mode) +
                           ", not a regular file; certheal did not read it"};
    }
    const int raw = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (raw < 0) {
        if (errno == ENOENT) return std::optional<std::string>{};
        return errno_failure(errno, "certheal could not open " + quoted(file));
    }
    FileDescriptor fd(raw);
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) return errno_failure(errno, "certheal could not look at " + quoted(file));
    if (!S_ISREG(info.st_mode) || info.st_dev != looked.st_dev || info.st_ino != looked.st_ino) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       quoted(file) + " was replaced while certheal opened it; certheal did not read it"};
    }
    const auto too_large = [&] {
        return Failure{std::make_error_code(std::errc::file_too_large),
                       quoted(file) + " is larger than " + std::to_string(limit / 1024) +
                           " KiB, more than certheal ever writes there"};
    };
    if (static_cast<std::uintmax_t>(info.st_size) > limit) return too_large();
    bool larger = false;
    auto contents = read_bounded(fd.get(), limit, larger);
    if (!contents) return errno_failure(errno, "certheal could not read " + quoted(file));
    if (larger) return too_large();
    return std::optional<std::string>{std::move(*contents)};
}

}  // namespace certheal::posix
