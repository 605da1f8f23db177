#include "service/posix/process_runner.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "service/posix/child_reaper.hpp"
#include "service/posix/file_descriptor.hpp"
#include "service/posix/process_tree.hpp"

namespace certheal {
namespace {

using SteadyClock = std::chrono::steady_clock;

// --- What a run step gets (README.md, "What a run step gets") ------------------------------

// Where every step's program starts: what systemd gives a service without WorkingDirectory=,
// whichever folder certheal itself was started from, so a step runs the same from a console as
// from the service. Never certheal's state folder: a script that writes a file by a relative
// name must not land next to the journal and state.json.
constexpr const char* step_working_directory = "/";

bool locale_exists(const char* name) {
    const locale_t locale = ::newlocale(LC_ALL_MASK, name, static_cast<locale_t>(nullptr));
    if (locale == static_cast<locale_t>(nullptr)) return false;
    ::freelocale(locale);
    return true;
}

struct AccountOfThisProcess {
    std::string name;
    std::string home;
};

// The user certheal runs as (root as a service), from the password database.
std::optional<AccountOfThisProcess> account_of_this_process() {
    const long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(suggested > 0 ? static_cast<std::size_t>(suggested) : 16384);
    passwd entry{};
    passwd* found = nullptr;
    while (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == ERANGE) {
        buffer.resize(buffer.size() * 2);
    }
    if (found == nullptr) return std::nullopt;
    return AccountOfThisProcess{found->pw_name, found->pw_dir != nullptr && *found->pw_dir ? found->pw_dir : "/"};
}

// The one list of what a step's program finds in its environment. certheal's own environment
// is never passed on: it may hold the password of a site's PKCS#12 file (a site's
// password_env), and a step that printed its environment would put it into the journal
// through its output tail. Anything a step needs beyond this, it sets itself (in a script, or
// with /usr/bin/env NAME=value program ...).
std::vector<std::string> clean_step_environment() {
    std::vector<std::string> environment;
    // PATH: the system's program folders, so a script finds the tools it calls by name. Not
    // certheal's PATH, which a unit file or an admin's shell may have pointed anywhere.
    environment.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    // LANG: UTF-8 text and untranslated messages, so an output tail reads the same on every
    // host. C where C.UTF-8 is missing (glibc before 2.35 outside Debian and its derivatives).
    environment.emplace_back(locale_exists("C.UTF-8") ? "LANG=C.UTF-8" : "LANG=C");
    // HOME, USER, LOGNAME: the user certheal runs as, what `sudo -i` or `su -` give an admin who
    // tries the command by hand, so tools that keep per-user files (ssh's known_hosts,
    // openssl's ~/.rnd, acme.sh) find the same ones. A user without an entry in the password
    // database gets HOME=/ and neither USER nor LOGNAME.
    if (const auto account = account_of_this_process()) {
        environment.push_back("HOME=" + account->home);
        environment.push_back("USER=" + account->name);
        environment.push_back("LOGNAME=" + account->name);
    } else {
        environment.emplace_back("HOME=/");
    }
    // TZ: certheal's own time zone when it has one, so a step's timestamps match certheal's.
    if (const char* time_zone = std::getenv("TZ")) environment.push_back(std::string("TZ=") + time_zone);
    // Each run adds CERTHEAL_STEP_ID=<certheal's pid>.<n> (process_tree.hpp): how certheal
    // recognises the step's processes that lost their parent.
    return environment;
}

// --- running it ----------------------------------------------------------------------------

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
// group id, and the anchor of its tree) cannot be reused before certheal is done with its tree.
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

// Ends every process of the tree: stop them all (so none starts another meanwhile), SIGTERM
// and continue, give them the grace period to clean up (what they start meanwhile is found
// too), then stop what is left and SIGKILL it, until nothing of the tree runs. Output keeps
// being read throughout, so a program that writes while it shuts down never blocks on a full
// pipe.
void end_tree(StepTree& tree, Duration grace, Stream& out, Stream& err) {
    tree.freeze();
    tree.signal_running(SIGTERM);
    tree.signal_running(SIGCONT);

    constexpr std::chrono::milliseconds look_again{200};  // how often the grace period looks for new processes
    const auto grace_deadline = SteadyClock::now() + grace;
    auto next_look = SteadyClock::now() + look_again;
    while (tree.any_running() && SteadyClock::now() < grace_deadline) {
        // The wake pipe may be readable for good (cancelled): wait on the output pipes only.
        pump(out, err, -1, until(grace_deadline, std::chrono::milliseconds{20}));
        if (SteadyClock::now() >= next_look) {
            tree.grow();
            next_look = SteadyClock::now() + look_again;
        }
    }

    // SIGKILL cannot be ignored; only a process stuck in the kernel (state D) outlives it for
    // a while. Such a survivor is reported, not waited for.
    const auto kill_deadline = SteadyClock::now() + std::chrono::seconds{2};
    do {
        tree.freeze();
        tree.signal_running(SIGKILL);
        const auto settle = SteadyClock::now() + std::chrono::milliseconds{200};
        while (tree.any_running() && SteadyClock::now() < settle) pump(out, err, -1, std::chrono::milliseconds{10});
    } while (tree.any_running() && SteadyClock::now() < kill_deadline);
}

// The three pipes of one run: the program's stdout and stderr (read ends kept, non-blocking),
// and the pipe that wakes the wait when certheal is stopping.
struct StepPipes {
    Stream out;
    Stream err;
    FileDescriptor out_write, err_write, wake_read, wake_write;
};

Result<StepPipes> open_step_pipes(const std::string& program_text, std::size_t tail_bytes) {
    StepPipes pipes{{{}, OutputTail(tail_bytes)}, {{}, OutputTail(tail_bytes)}, {}, {}, {}, {}};
    for (auto [read_end, write_end] : {std::pair{&pipes.out.fd, &pipes.out_write}, std::pair{&pipes.err.fd, &pipes.err_write},
                                       std::pair{&pipes.wake_read, &pipes.wake_write}}) {
        if (const auto error = make_pipe(*read_end, *write_end)) {
            return Failure{error, "certheal could not start " + program_text + ": " + error.message() +
                                      " (creating a pipe for its output)."};
        }
    }
    set_nonblocking(pipes.out.fd.get());
    set_nonblocking(pipes.err.fd.get());
    set_nonblocking(pipes.wake_read.get());
    set_nonblocking(pipes.wake_write.get());
    return pipes;
}

// NULL-terminated pointers into `storage`, for posix_spawn.
std::vector<char*> c_strings(std::vector<std::string>& storage) {
    std::vector<char*> pointers;
    pointers.reserve(storage.size() + 1);
    for (auto& text : storage) pointers.push_back(text.data());
    pointers.push_back(nullptr);
    return pointers;
}

// Starts the program in its own process group, with the pipes as stdout and stderr, "/" as
// its working directory, the clean environment plus `marker`. Returns its pid, or the error of
// posix_spawn. The write ends are closed here, so the read ends see the end of the output.
Result<pid_t> spawn_step(const std::string& program_text, const std::vector<std::string>& args,
                         std::vector<std::string> environment_storage, const std::string& marker, StepPipes& pipes) {
    SpawnFileActions actions;
    ::posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(actions.get(), pipes.out_write.get(), STDOUT_FILENO);
    ::posix_spawn_file_actions_adddup2(actions.get(), pipes.err_write.get(), STDERR_FILENO);
    ::posix_spawn_file_actions_addchdir_np(actions.get(), step_working_directory);

    SpawnAttributes attributes;
    // Its own process group, so one kill() reaches what stays in it; a clean signal mask and
    // default dispositions, whatever certheal itself blocks or ignores.
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
    auto argv = c_strings(argv_storage);
    environment_storage.push_back(marker);
    auto environment = c_strings(environment_storage);

    pid_t pid = -1;
    int spawn_error = 0;
    ChildReaper::instance().spawn_claimed([&] {
        spawn_error = ::posix_spawn(&pid, program_text.c_str(), actions.get(), attributes.get(), argv.data(),
                                    environment.data());
        return spawn_error == 0 ? pid : -1;
    });
    pipes.out_write.reset();
    pipes.err_write.reset();
    if (spawn_error != 0) {
        const auto code = errno_code(spawn_error);
        return Failure{code, "certheal could not start " + program_text + ": " + code.message() + "."};
    }
    return pid;
}

enum class WaitEnd { exited, cancelled, timed_out };

// Reads the program's output until it exits, `cancel` is requested or `timeout` has passed.
WaitEnd wait_for_exit(pid_t pid, Duration timeout, const std::stop_token& cancel, StepPipes& pipes) {
    // Wakes the poll below at once when certheal is stopping.
    std::stop_callback wake_on_cancel(cancel, [fd = pipes.wake_write.get()] {
        const char byte = 1;
        [[maybe_unused]] const auto ignored = ::write(fd, &byte, 1);
    });
    const auto deadline = SteadyClock::now() + timeout;
    constexpr std::chrono::milliseconds slice{50};  // how often the child's exit is checked
    for (;;) {
        if (has_exited(pid)) return WaitEnd::exited;
        if (cancel.stop_requested()) return WaitEnd::cancelled;
        if (SteadyClock::now() >= deadline) return WaitEnd::timed_out;
        pump(pipes.out, pipes.err, pipes.wake_read.get(), until(deadline, slice));
    }
}

// What the program's tree does once the program has exited or its time is up: what an exited
// program left behind (a daemon) keeps running, named; at a deadline or a stop every process
// of the tree is ended. Either way certheal reaps what ends, now or as it ends.
void settle_tree(pid_t pid, const std::string& marker, bool exited, Duration kill_grace, StepPipes& pipes,
                 ProcessOutcome& outcome) {
    ChildReaper& reaper = ChildReaper::instance();
    std::vector<ProcessId> tree_processes;
    {
        // The program is not reaped yet (has_exited uses WNOWAIT): its pid still anchors the tree.
        StepTree tree(reaper, pid, marker, /*pin=*/!exited);
        if (exited) {
            // What it started and left behind (a daemon) keeps running: that is how a step starts
            // a service. It is named, and certheal reaps it once it ends.
            tree.grow();
        } else {
            end_tree(tree, kill_grace, pipes.out, pipes.err);
            outcome.killed = tree.ended();
        }
        // After a kill: what survived SIGKILL (stuck in the kernel).
        outcome.left_running = tree.running();
        tree_processes = tree.all_ids();
    }  // unpins the tree's processes
    // Reap what ended of the tree and is certheal's child now; the reaper thread takes the rest
    // as it ends (the program itself is still claimed by this run, and reaped by run()).
    reaper.reap_ended(tree_processes);
    reaper.adopt(tree_processes);
}

}  // namespace

PosixProcessRunner::PosixProcessRunner(Options options)
    : options_(options), environment_(clean_step_environment()) {
    ChildReaper::instance();  // certheal becomes a child subreaper before its first step runs
}

void PosixProcessRunner::reap_every_orphan() { ChildReaper::instance().reap_every_orphan(); }

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
    auto opened = open_step_pipes(program_text, options_.tail_bytes);
    if (!opened) return opened.error();
    StepPipes& pipes = opened.value();
    ChildReaper& reaper = ChildReaper::instance();
    const std::string marker = reaper.next_step_marker();
    const auto spawned = spawn_step(program_text, args, environment_, marker, pipes);
    if (!spawned) return spawned.error();
    const pid_t pid = spawned.value();

    ProcessOutcome outcome;
    const WaitEnd end = wait_for_exit(pid, timeout, cancel, pipes);
    outcome.cancelled = end == WaitEnd::cancelled;
    outcome.timed_out = end == WaitEnd::timed_out;
    settle_tree(pid, marker, end == WaitEnd::exited, options_.kill_grace, pipes, outcome);

    drain(pipes.out);
    drain(pipes.err);
    const int status = reap(pid);
    reaper.release(pid);
    if (WIFEXITED(status)) {
        outcome.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        outcome.terminating_signal = WTERMSIG(status);
        outcome.exit_code = 128 + outcome.terminating_signal;
    }
    outcome.stdout_tail = pipes.out.tail.finish();
    outcome.stderr_tail = pipes.err.tail.finish();
    return outcome;
}

}  // namespace certheal
