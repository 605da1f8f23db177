#include "service/posix/file_replacer.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace certheal {
namespace {

Failure errno_failure(int error, const std::string& what) {
    return Failure{std::error_code(error, std::system_category()), what + ": " + std::strerror(error)};
}

// Closes and, unless kept, removes the temporary file on every way out.
class TemporaryFile {
public:
    explicit TemporaryFile(std::string pattern) : path_(std::move(pattern)) {
        fd_ = ::mkstemp(path_.data());
        created_ = fd_ >= 0;
    }
    ~TemporaryFile() {
        if (fd_ >= 0) ::close(fd_);
        if (created_ && !kept_) ::unlink(path_.c_str());
    }
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    bool opened() const noexcept { return fd_ >= 0; }
    int fd() const noexcept { return fd_; }
    const std::string& path() const noexcept { return path_; }
    int close() {
        const int result = ::close(fd_);
        fd_ = -1;
        return result;
    }
    void keep() noexcept { kept_ = true; }

private:
    std::string path_;
    int fd_ = -1;
    bool created_ = false;
    bool kept_ = false;
};

bool write_all(int fd, const std::string& contents) {
    std::size_t written = 0;
    while (written < contents.size()) {
        const ssize_t result = ::write(fd, contents.data() + written, contents.size() - written);
        if (result < 0 && errno == EINTR) continue;
        if (result <= 0) return false;
        written += static_cast<std::size_t>(result);
    }
    return true;
}

}  // namespace

Result<Done> PosixFileReplacer::replace_contents(const std::filesystem::path& file, const std::string& contents) {
    std::error_code ec;
    const std::filesystem::path target = std::filesystem::canonical(file, ec);
    if (ec) return Failure{ec, "certheal could not find " + file.string() + ": " + ec.message()};
    struct stat original {};
    if (::stat(target.c_str(), &original) != 0) {
        return errno_failure(errno, "certheal could not read the owner and permissions of " + target.string());
    }
    if (!S_ISREG(original.st_mode)) {
        return Failure{std::make_error_code(std::errc::invalid_argument), target.string() + " is not a regular file"};
    }

    TemporaryFile temporary(target.parent_path() / ("." + target.filename().string() + ".certheal-XXXXXX"));
    if (!temporary.opened()) {
        return errno_failure(errno, "certheal could not create a temporary file beside " + target.string());
    }
    const std::string what = "certheal could not write the new " + target.string();
    if (!write_all(temporary.fd(), contents)) return errno_failure(errno, what);
    // The web server reads this file as its owner: give the new one the same owner and mode
    // before it takes the old one's place, so there is no moment with other permissions.
    if (::fchown(temporary.fd(), original.st_uid, original.st_gid) != 0) {
        return errno_failure(errno, "certheal could not give the new " + target.string() + " the owner of the old one");
    }
    if (::fchmod(temporary.fd(), original.st_mode & 07777) != 0) {
        return errno_failure(errno, "certheal could not give the new " + target.string() + " the mode of the old one");
    }
    if (::fsync(temporary.fd()) != 0) return errno_failure(errno, what);
    if (temporary.close() != 0) return errno_failure(errno, what);
    if (::rename(temporary.path().c_str(), target.c_str()) != 0) {
        return errno_failure(errno, "certheal could not put the new " + target.string() + " in place");
    }
    temporary.keep();
    // The rename itself reaches the disk with the folder.
    if (const int folder = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); folder >= 0) {
        ::fsync(folder);
        ::close(folder);
    }
    return success();
}

}  // namespace certheal
