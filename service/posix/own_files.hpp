#pragma once
// Files certheal writes with full privileges, on POSIX: never through a symbolic link, never
// into a FIFO or a device, never into a file another account put there. The helpers here are
// shared by the OwnFiles adapter (journal, state.json, status.json, certheal.prom), the locks
// (repair.lock, certheal.pid) and the file replacer (a trust_ca bundle).

#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/model/ports.hpp"
#include "service/posix/file_descriptor.hpp"

namespace certheal::posix {

// "<what>: <strerror>", with the errno as the code.
Failure errno_failure(int error, const std::string& what);

// What is at `path`, said for people: "a symbolic link", "a FIFO (named pipe)", "a folder",
// "a character device", ... or "a regular file".
std::string describe_file_type(mode_t mode);

// "user id 65534 (nobody)".
std::string describe_user(uid_t uid);

// The permission bits of `mode` in octal as chmod takes them (0644).
std::string mode_text(mode_t mode);

// Writes all of `contents` to `fd`, again after EINTR; false with errno set when it cannot.
bool write_all(int fd, const std::string& contents);

struct OpenedOwnFile {
    FileDescriptor fd;
    struct stat info {};
    bool created = false;
};

// Opens `file` with `access` (O_RDONLY, O_WRONLY | O_APPEND, O_RDWR), creating it exclusively
// with `create_mode` (set through the descriptor) when it is missing and a mode is given.
// What is there already must be a regular file the account certheal runs as owns: a link, a
// FIFO, a device, a folder or a file of another account is refused without being followed or
// waited on (the name is looked at first, then opened with O_NOFOLLOW | O_NONBLOCK, and the
// open descriptor must be what was looked at). `what` names the file in the sentence ("its
// journal"). A missing file without `create_mode` is a Failure with code
// no_such_file_or_directory.
Result<OpenedOwnFile> open_own_file(const std::filesystem::path& file, int access, std::optional<mode_t> create_mode,
                                    std::string_view what);

// Why `folder` may not hold files certheal writes as root, as a clause, or nothing when only
// root (or the account certheal runs as) can change it. The folder must be owned by one of
// them and not writable by its group or every user, unless it is sticky and owned by the
// account certheal runs as; every folder above it must be owned by root or that account and
// not writable by others unless sticky (like /tmp). Symbolic links on the way are followed,
// and the folders holding them checked too. Parts of the path that do not exist yet are not
// judged (whoever may create them is: their existing parent). `what` names it ("the state
// folder").
std::optional<std::string> folder_protection_problem(const std::filesystem::path& folder, std::string_view what);

// Like folder_protection_problem, for the folder of a file someone else's program reads (a
// trust_ca bundle): the folder itself must not be writable by its group or every user at all.
std::optional<std::string> bundle_folder_problem(const std::filesystem::path& folder);

// Removes what a killed rewrite left in `folder`: temporaries named by temporary_name_for and
// the fixed temporary names of earlier versions (never a folder). Returns how many went.
std::size_t remove_leftover_temporaries(const std::filesystem::path& folder);

class PosixOwnFiles final : public OwnFiles {
public:
    Result<Done> write_atomically(const std::filesystem::path& file, const std::string& contents,
                                  std::filesystem::perms mode) override;
    Result<Appended> append(const std::filesystem::path& file, const std::string& record, std::filesystem::perms mode,
                            std::uintmax_t limit) override;
    Result<std::optional<std::string>> read(const std::filesystem::path& file, std::size_t limit) override;
};

}  // namespace certheal::posix
