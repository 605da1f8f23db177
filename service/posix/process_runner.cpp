#include "service/posix/process_runner.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace certheal {
namespace {

using SteadyClock = std::chrono::steady_clock;

class FileDescriptor {
public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    FileDescriptor& operator=(FileDescriptor&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    ~FileDescriptor() { reset(); }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

std::error_code errno_code(int error) { return {error, std::system_category()}; }

// Both ends close-on-exec, so a child spawned by another worker thread at the same moment
// never inherits them (an inherited write end would keep our read open forever).
std::error_code make_pipe(FileDescriptor& read_end, FileDescriptor& write_end) {
    int fds[2];
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    if (::pipe2(fds, O_CLOEXEC) != 0) return errno_code(errno);
#else
    if (::pipe(fds) != 0) return errno_code(errno);
    ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
    read_end = FileDescriptor(fds[0]);
    write_end = FileDescriptor(fds[1]);
    return {};
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

class SpawnFileActions {
public:
    SpawnFileActions() { ::posix_spawn_file_actions_init(&actions_); }
    ~SpawnFileActions() { ::posix_spawn_file_actions_destroy(&actions_); }
    SpawnFileActions(const SpawnFileActions&) = delete;
    SpawnFileActions& operator=(const SpawnFileActions&) = delete;
    posix_spawn_file_actions_t* get() { return &actions_; }

private:
    posix_spawn_file_actions_t actions_;
};

class SpawnAttributes {
public:
    SpawnAttributes() { ::posix_spawnattr_init(&attributes_); }
    ~SpawnAttributes() { ::posix_spawnattr_destroy(&attributes_); }
    SpawnAttributes(const SpawnAttributes&) = delete;
    SpawnAttributes& operator=(const SpawnAttributes&) = delete;
    posix_spawnattr_t* get() { return &attributes_; }

private:
    posix_spawnattr_t attributes_;
};

// Keeps the last `cap` bytes of a stream without reallocating on every read.
class OutputTail {
public:
    explicit OutputTail(std::size_t cap) : cap_(cap) {}
    void append(const char* data, std::size_t size) {
        text_.append(data, size);
        if (text_.size() > 2 * cap_ + 4096) text_.erase(0, text_.size() - cap_);
    }
    std::string finish() {
        if (text_.size() > cap_) {
            text_.erase(0, text_.size() - cap_);
            // Do not start in the middle of a UTF-8 sequence.
            std::size_t skip = 0;
            while (skip < 3 && skip < text_.size() && (static_cast<unsigned char>(text_[skip]) & 0xC0) == 0x80) ++skip;
            text_.erase(0, skip);
        }
        return std::move(text_);
    }

private:
    std::size_t cap_;
    std::string text_;
};

struct Stream {
    FileDescriptor fd;
    OutputTail tail;
};

// Reads what is available now; closes the stream at end of file or on an error.
void drain(Stream& stream) {
    char buffer[8192];
    while (stream.fd) {
        const ssize_t got = ::read(stream.fd.get(), buffer, sizeof buffer);
        if (got > 0) {
            stream.tail.append(buffer, static_cast<std::size_t>(got));
        } else if (got < 0 && errno == EINTR) {
            continue;
        } else if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            stream.fd.reset();
        }
    }
}

// Waits up to `slice` for output or a wake-up, and reads what came.
void pump(Stream& out, Stream& err, int wake_fd, std::chrono::milliseconds slice) {
    pollfd fds[3] = {{out.fd.get(), POLLIN, 0}, {err.fd.get(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int ready = ::poll(fds, 3, static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, slice.count())));
    if (ready <= 0) return;  // timeout, or EINTR: the caller loops
    if (fds[0].revents) drain(out);
    if (fds[1].revents) drain(err);
    // The wake pipe is left readable on purpose: once cancelled, polls return at once.
}

// True once the child has exited. WNOWAIT leaves it a zombie, so its pid (and so the process
// group id) cannot be reused before we have signalled the group for the last time.
bool has_exited(pid_t pid) {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        if (errno != EINTR) return true;  // ECHILD: nothing left to wait for
    }
    return info.si_pid == pid;
}

int reap(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return 0;
    }
    return status;
}

std::chrono::milliseconds until(SteadyClock::time_point deadline, std::chrono::milliseconds most) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    return std::clamp(left, std::chrono::milliseconds{0}, most);
}

}  // namespace

Result<ProcessOutcome> PosixProcessRunner::run(const std::filesystem::path& program,
                                               const std::vector<std::string>& args, Duration timeout,
                                               std::stop_token cancel) {
    const std::string program_text = program.string();
    if (!program.is_absolute()) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       "certheal could not start " + program_text +
                           ": certheal runs programs only by absolute path, without a shell."};
    }
    if (cancel.stop_requested()) {
        ProcessOutcome outcome;
        outcome.cancelled = true;
        return outcome;
    }

    Stream out{{}, OutputTail(options_.tail_bytes)}, err{{}, OutputTail(options_.tail_bytes)};
    FileDescriptor out_write, err_write, wake_read, wake_write;
    for (auto [read_end, write_end] : {std::pair{&out.fd, &out_write}, std::pair{&err.fd, &err_write},
                                       std::pair{&wake_read, &wake_write}}) {
        if (const auto error = make_pipe(*read_end, *write_end)) {
            return Failure{error, "certheal could not start " + program_text + ": " + error.message() +
                                      " (creating a pipe for its output)."};
        }
    }
    set_nonblocking(out.fd.get());
    set_nonblocking(err.fd.get());
    set_nonblocking(wake_read.get());
    set_nonblocking(wake_write.get());

    SpawnFileActions actions;
    ::posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(actions.get(), out_write.get(), STDOUT_FILENO);
    ::posix_spawn_file_actions_adddup2(actions.get(), err_write.get(), STDERR_FILENO);

    SpawnAttributes attributes;
    // Its own process group, so one kill() reaches everything it starts; a clean signal mask
    // and default dispositions, whatever certheal itself blocks or ignores.
    sigset_t empty_mask, default_signals;
    sigemptyset(&empty_mask);
    sigemptyset(&default_signals);
    for (int signal_number : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2})
        sigaddset(&default_signals, signal_number);
    ::posix_spawnattr_setflags(attributes.get(),
                               POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    ::posix_spawnattr_setpgroup(attributes.get(), 0);
    ::posix_spawnattr_setsigmask(attributes.get(), &empty_mask);
    ::posix_spawnattr_setsigdefault(attributes.get(), &default_signals);

    std::vector<std::string> argv_storage;
    argv_storage.reserve(args.size() + 1);
    argv_storage.push_back(program_text);
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    argv.reserve(argv_storage.size() + 1);
    for (auto& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);

    pid_t pid = -1;
    const int spawn_error =
        ::posix_spawn(&pid, program_text.c_str(), actions.get(), attributes.get(), argv.data(), environ);
    out_write.reset();
    err_write.reset();
    if (spawn_error != 0) {
        const auto code = errno_code(spawn_error);
        return Failure{code, "certheal could not start " + program_text + ": " + code.message() + "."};
    }

    // Wakes the poll below at once when certheal is stopping.
    std::stop_callback wake_on_cancel(cancel, [fd = wake_write.get()] {
        const char byte = 1;
        [[maybe_unused]] const auto ignored = ::write(fd, &byte, 1);
    });

    ProcessOutcome outcome;
    const auto deadline = SteadyClock::now() + timeout;
    constexpr std::chrono::milliseconds slice{50};  // how often the child's exit is checked
    bool exited = false;
    for (;;) {
        if (has_exited(pid)) {
            exited = true;
            break;
        }
        if (cancel.stop_requested()) {
            outcome.cancelled = true;
            break;
        }
        if (SteadyClock::now() >= deadline) {
            outcome.timed_out = true;
            break;
        }
        pump(out, err, wake_read.get(), until(deadline, slice));
    }

    if (!exited) {
        ::kill(-pid, SIGTERM);
        const auto grace_deadline = SteadyClock::now() + options_.kill_grace;
        while (!has_exited(pid) && SteadyClock::now() < grace_deadline) {
            // The wake pipe may be readable for good (cancelled): sleep through poll on the
            // output pipes only.
            pump(out, err, -1, until(grace_deadline, std::chrono::milliseconds{20}));
        }
        // Also reaches group members that outlived or ignored SIGTERM. The leader is not reaped
        // yet, so the group id still names this group.
        ::kill(-pid, SIGKILL);
    }
    drain(out);
    drain(err);
    const int status = reap(pid);

    if (WIFEXITED(status)) {
        outcome.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        outcome.terminating_signal = WTERMSIG(status);
        outcome.exit_code = 128 + outcome.terminating_signal;
    }
    outcome.stdout_tail = out.tail.finish();
    outcome.stderr_tail = err.tail.finish();
    return outcome;
}

}  // namespace certheal
