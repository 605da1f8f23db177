#include "service/posix/file_locks.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "service/posix/own_files.hpp"

namespace certheal::posix {
namespace {

// The descriptor still names what is at `file` (nobody replaced or removed it meanwhile).
bool still_at_name(int fd, const std::filesystem::path& file) {
    struct stat held {};
    struct stat named {};
    if (::fstat(fd, &held) != 0 || ::lstat(file.c_str(), &named) != 0) return false;
    return held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

// A hint for the errors that mean the state folder itself refuses new files.
Failure with_folder_hint(Failure failure) {
    const auto value = failure.code.value();
    if (failure.code.category() == std::generic_category() && (value == EPERM || value == EROFS || value == EACCES)) {
        failure.message += " (is the state folder read-only, or immutable? lsattr -d shows an i flag)";
    }
    return failure;
}

constexpr int kRounds = 8;


}  // namespace

// --- repair.lock -----------------------------------------------------------------------------

FileRepairLock::FileRepairLock(std::filesystem::path file, std::function<void()> between_open_and_lock)
    : file_(std::move(file)), between_open_and_lock_(std::move(between_open_and_lock)) {}

void FileRepairLock::prepare() noexcept {
    // Made now, while the folder can be written; what goes wrong here is said by try_acquire.
    (void)open_own_file(file_, O_RDONLY, mode_t{0600}, "its repair lock");
}

Result<bool> FileRepairLock::try_acquire() {
    if (descriptor_) return true;
    for (int round = 0; round < kRounds; ++round) {
        // Read-only: flock needs no more, and an existing lock still works in a state folder
        // that has turned read-only (a full or failing disk remounted ro).
        auto opened = open_own_file(file_, O_RDONLY, mode_t{0600}, "its repair lock");
        if (!opened) return with_folder_hint(opened.error());
        FileDescriptor fd = std::move(opened.value().fd);
        if (between_open_and_lock_) between_open_and_lock_();
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK) return false;
            return errno_failure(errno, "certheal could not lock its repair lock " + file_.string());
        }
        // Locked, but maybe a file that was just replaced: whoever opens the name now gets the
        // new one and locks it too. Start again with what the name names.
        if (!still_at_name(fd.get(), file_)) continue;
        descriptor_ = std::move(fd);
        return true;
    }
    return Failure{std::make_error_code(std::errc::resource_unavailable_try_again),
                   "certheal could not take its repair lock " + file_.string() +
                       ": the file was replaced each of the " + std::to_string(kRounds) +
                       " times certheal locked it; check what else writes to the state folder"};
}

void FileRepairLock::release() noexcept {
    descriptor_.reset();  // closing drops the flock
}

// --- certheal.pid ----------------------------------------------------------------------------

namespace {

// The pid written in the file: what there is when the kernel cannot name the holder.
std::optional<long long> pid_written_in(int fd) {
    char text[32] = {};
    const ssize_t got = ::pread(fd, text, sizeof text - 1, 0);
    long long pid = 0;
    for (ssize_t index = 0; index < got && text[index] >= '0' && text[index] <= '9' && pid < 100'000'000; ++index) {
        pid = pid * 10 + (text[index] - '0');
    }
    return pid > 0 ? std::optional<long long>(pid) : std::nullopt;
}

// The pid of the process holding an flock on the file `fd` is open on, from /proc/locks
// ("1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF": the device as hex major:minor, then the
// inode). nullopt when nobody holds one; `known` false when /proc/locks cannot be read.
std::optional<long long> flock_holder(int fd, bool& known) {
    known = false;
    struct stat info {};
    if (::fstat(fd, &info) != 0) return std::nullopt;
    const int locks = ::open("/proc/locks", O_RDONLY | O_CLOEXEC);
    if (locks < 0) return std::nullopt;
    FileDescriptor owned(locks);
    std::string text;
    char chunk[16 * 1024];
    // One line per lock on the host: a few KiB; bounded however many there are.
    for (ssize_t got; text.size() < std::size_t{4} << 20 && (got = ::read(locks, chunk, sizeof chunk)) > 0;) {
        text.append(chunk, static_cast<std::size_t>(got));
    }
    known = true;
    char wanted[64];
    std::snprintf(wanted, sizeof wanted, "%02x:%02x:%llu", major(info.st_dev), minor(info.st_dev),
                  static_cast<unsigned long long>(info.st_ino));
    std::size_t at = 0;
    while (at < text.size()) {
        const auto end = std::min(text.find('\n', at), text.size());
        const std::string line = text.substr(at, end - at);
        at = end + 1;
        char kind[16] = {}, advisory[16] = {}, access[16] = {}, device[64] = {};
        long long pid = 0;
        // Waiters ("1: -> FLOCK ...") do not match this shape, and hold nothing.
        if (std::sscanf(line.c_str(), "%*d: %15s %15s %15s %lld %63s", kind, advisory, access, &pid, device) != 5) continue;
        // A holder in another pid namespace shows as 0 or -1: held, by a pid the file has to tell.
        if (std::string_view(kind) == "FLOCK" && std::string_view(device) == wanted) return std::max(pid, 0LL);
    }
    return std::nullopt;
}

// Who holds the flock on `fd`'s file: /proc/locks names the process; where it cannot be read,
// a shared lock that cannot be taken says someone holds it, and the file says who.
std::optional<long long> holder_of(int fd) {
    bool known = false;
    if (auto holder = flock_holder(fd, known); known) return holder;
    if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
        ::flock(fd, LOCK_UN);
        return std::nullopt;
    }
    return pid_written_in(fd).value_or(0);
}

}  // namespace

InstanceLock::InstanceLock(std::filesystem::path file, FileDescriptor descriptor)
    : file_(std::move(file)), descriptor_(std::move(descriptor)) {}

InstanceLock::~InstanceLock() {
    // Removed while still locked, and only if it is still ours: a `run` that starts now and
    // opened the old file finds, once it has the lock, that the name no longer names it.
    if (descriptor_ && still_at_name(descriptor_.get(), file_)) ::unlink(file_.c_str());
    descriptor_.reset();
}

Result<InstanceLock::Outcome> InstanceLock::take(const std::filesystem::path& pid_file,
                                                 const std::function<void()>& between_open_and_lock) {
    for (int round = 0; round < kRounds; ++round) {
        // Held read-only: a descriptor open for writing for certheal's whole life would keep the
        // state folder's file system from being remounted read-only.
        auto opened = open_own_file(pid_file, O_RDONLY, mode_t{0644}, "its pid file");
        if (!opened) return with_folder_hint(opened.error());
        FileDescriptor fd = std::move(opened.value().fd);
        if (between_open_and_lock) between_open_and_lock();
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK) return errno_failure(errno, "certheal could not lock its pid file " + pid_file.string());
            if (auto holder = holder_of(fd.get())) {
                return Outcome{nullptr, *holder > 0 ? *holder : pid_written_in(fd.get()).value_or(0)};
            }
            continue;  // it let go meanwhile: try again
        }
        if (!still_at_name(fd.get(), pid_file)) continue;
        // The pid goes in through a descriptor of its own, closed again at once, on the very
        // file that is locked.
        auto writer = open_own_file(pid_file, O_WRONLY, std::nullopt, "its pid file");
        if (!writer) return writer.error();
        struct stat locked {};
        if (::fstat(fd.get(), &locked) != 0 || locked.st_dev != writer.value().info.st_dev ||
            locked.st_ino != writer.value().info.st_ino) {
            continue;
        }
        const int out = writer.value().fd.get();
        const std::string text = std::to_string(::getpid()) + "\n";
        // Readable by all (`certheal status` as any user), whatever mode an older file had.
        if (::fchmod(out, 0644) != 0 || ::ftruncate(out, 0) != 0 ||
            ::pwrite(out, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
            return errno_failure(errno, "certheal could not write its pid to " + pid_file.string());
        }
        return Outcome{std::unique_ptr<InstanceLock>(new InstanceLock(pid_file, std::move(fd))), std::nullopt};
    }
    return Failure{std::make_error_code(std::errc::resource_unavailable_try_again),
                   "certheal could not lock its pid file " + pid_file.string() + ": it was replaced each of the " +
                       std::to_string(kRounds) + " times certheal locked it"};
}

std::optional<long long> instance_lock_holder(const std::filesystem::path& pid_file) {
    struct stat looked {};
    if (::lstat(pid_file.c_str(), &looked) != 0 || !S_ISREG(looked.st_mode)) return std::nullopt;
    const int raw = ::open(pid_file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (raw < 0) return std::nullopt;
    FileDescriptor fd(raw);
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
    auto holder = holder_of(fd.get());
    if (holder && *holder <= 0) return pid_written_in(fd.get());
    return holder;
}

}  // namespace certheal::posix
