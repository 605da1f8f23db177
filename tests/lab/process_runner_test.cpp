#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <csignal>
#include <fstream>
#include <optional>
#include <sstream>
#include <stop_token>
#include <thread>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <dirent.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#include "service/posix/process_runner.hpp"
#include "support/pki.hpp"
#include "support/wait.hpp"

using namespace certheal;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path shell = "/bin/sh";

// Alive means it exists and is not a zombie (a container's PID 1 may never reap orphans).
bool process_is_alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return false;
    std::string line;
    std::getline(stat, line);
    const auto close_paren = line.rfind(')');
    if (close_paren == std::string::npos || close_paren + 2 >= line.size()) return false;
    const char state = line[close_paren + 2];
    return state != 'Z' && state != 'X';
}

bool dies_within(pid_t pid, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!process_is_alive(pid)) return true;
        std::this_thread::sleep_for(10ms);
    }
    return !process_is_alive(pid);
}

pid_t first_line_as_pid(const std::string& text) {
    std::istringstream in(text);
    long pid = 0;
    in >> pid;
    return static_cast<pid_t>(pid);
}

std::vector<pid_t> lines_as_pids(const std::string& text) {
    std::vector<pid_t> pids;
    std::istringstream in(text);
    long pid = 0;
    while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
    return pids;
}

// The pid of a "<pid> <command name>" entry of killed / left_running.
pid_t entry_pid(const std::string& entry) { return first_line_as_pid(entry); }

bool lists_pid(const std::vector<std::string>& entries, pid_t pid) {
    return std::any_of(entries.begin(), entries.end(), [&](const std::string& entry) { return entry_pid(entry) == pid; });
}

// The /proc/PID/stat fields after the command name: state, ppid, ...
std::vector<std::string> stat_fields(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close_paren = line.rfind(')');
    std::vector<std::string> fields;
    if (close_paren == std::string::npos) return fields;
    std::istringstream in(line.substr(close_paren + 2));
    std::string field;
    while (in >> field) fields.push_back(field);
    return fields;
}

// Children of this test process that ended and were never reaped.
std::vector<pid_t> zombie_children() {
    std::vector<pid_t> zombies;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return zombies;
    while (const dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        const auto fields = stat_fields(static_cast<pid_t>(pid));
        if (fields.size() > 1 && fields[0] == "Z" && std::stol(fields[1]) == ::getpid()) {
            zombies.push_back(static_cast<pid_t>(pid));
        }
    }
    ::closedir(proc);
    return zombies;
}

bool no_zombie_children_within(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!zombie_children().empty()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// "NAME=value" lines of `env` as a map.
std::map<std::string, std::string> environment_lines(const std::string& text) {
    std::map<std::string, std::string> variables;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto equals = line.find('=');
        if (equals != std::string::npos) variables[line.substr(0, equals)] = line.substr(equals + 1);
    }
    return variables;
}

std::set<std::string> names_of(const std::map<std::string, std::string>& variables) {
    std::set<std::string> names;
    for (const auto& [name, value] : variables) names.insert(name);
    return names;
}

// Sets a variable in this test process for one scope, as a site's password_env would be set
// in certheal's.
class ScopedVariable {
public:
    ScopedVariable(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        ::setenv(name, value, 1);
    }
    ~ScopedVariable() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }
    ScopedVariable(const ScopedVariable&) = delete;
    ScopedVariable& operator=(const ScopedVariable&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

// Kills a process a test left running on purpose, whatever happens to the test.
struct KillAtEnd {
    std::vector<pid_t> pids;
    ~KillAtEnd() {
        for (const pid_t pid : pids) {
            if (pid > 0) ::kill(pid, SIGKILL);
        }
    }
};

std::string testing_join(const std::vector<std::string>& entries) {
    std::string text;
    for (const auto& entry : entries) text += (text.empty() ? "" : ", ") + entry;
    return text;
}

template <class Work>
std::chrono::milliseconds time_of(Work&& work) {
    const auto started = std::chrono::steady_clock::now();
    work();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
}

}  // namespace

TEST_CASE("a program's exit code and both output streams are captured", "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run(shell, {"-c", "echo to-stdout; echo to-stderr >&2; exit 0"}, 10s, {});
    REQUIRE(result.ok());
    CHECK(result.value().exit_code == 0);
    CHECK(result.value().stdout_tail == "to-stdout\n");
    CHECK(result.value().stderr_tail == "to-stderr\n");
    CHECK_FALSE(result.value().timed_out);
    CHECK_FALSE(result.value().cancelled);
    CHECK(result.value().terminating_signal == 0);
}

TEST_CASE("arguments reach the program verbatim, without a shell", "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run("/bin/echo", {"a b", "$HOME", "'quoted'", "*"}, 10s, {});
    REQUIRE(result.ok());
    CHECK(result.value().stdout_tail == "a b $HOME 'quoted' *\n");
}

TEST_CASE("a non-zero exit is a result, not a failure", "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run(shell, {"-c", "echo failing >&2; exit 7"}, 10s, {});
    REQUIRE(result.ok());
    CHECK(result.value().exit_code == 7);
    CHECK(result.value().stderr_tail == "failing\n");
}

TEST_CASE("a program that does not exist cannot be started and says why", "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run("/usr/bin/certheal-no-such-program", {}, 10s, {});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == std::error_code(ENOENT, std::system_category()));
    CHECK(result.error().message ==
          "certheal could not start /usr/bin/certheal-no-such-program: No such file or directory.");
}

TEST_CASE("a program given by relative path is refused", "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run("sh", {"-c", "exit 0"}, 10s, {});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message.find("absolute path") != std::string::npos);
}

TEST_CASE("a program reads end of file from stdin instead of waiting", "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run(shell, {"-c", "cat; echo stdin-closed"}, 5s, {});
    REQUIRE(result.ok());
    CHECK(result.value().stdout_tail == "stdin-closed\n");
    CHECK_FALSE(result.value().timed_out);
}

TEST_CASE("a timeout kills the whole process group, grandchildren included", "[process_runner]") {
    PosixProcessRunner runner;
    Result<ProcessOutcome> result = Failure{};
    const auto took =
        time_of([&] { result = runner.run(shell, {"-c", "sleep 100 & echo $!; sleep 100"}, 300ms, {}); });
    REQUIRE(result.ok());
    const auto& outcome = result.value();
    CHECK(outcome.timed_out);
    CHECK_FALSE(outcome.cancelled);
    CHECK(outcome.terminating_signal == SIGTERM);
    CHECK(outcome.exit_code == 128 + SIGTERM);
    CHECK(took >= 300ms);
    CHECK(took < 3s);
    const pid_t grandchild = first_line_as_pid(outcome.stdout_tail);
    REQUIRE(grandchild > 0);
    CHECK(dies_within(grandchild, 2s));
    CHECK(lists_pid(outcome.killed, grandchild));
    CHECK(outcome.left_running.empty());
}

TEST_CASE("a group that ignores SIGTERM is killed with SIGKILL after the grace period", "[process_runner]") {
    PosixProcessRunner runner(PosixProcessRunner::Options{4096, 200ms});
    Result<ProcessOutcome> result = Failure{};
    const auto took = time_of(
        [&] { result = runner.run(shell, {"-c", "trap '' TERM; sleep 100 & echo $!; sleep 100"}, 200ms, {}); });
    REQUIRE(result.ok());
    CHECK(result.value().timed_out);
    CHECK(result.value().terminating_signal == SIGKILL);
    CHECK(result.value().exit_code == 128 + SIGKILL);
    CHECK(took >= 400ms);
    CHECK(took < 3s);
    const pid_t grandchild = first_line_as_pid(result.value().stdout_tail);
    REQUIRE(grandchild > 0);
    CHECK(dies_within(grandchild, 2s));
}

TEST_CASE("a stop request kills the running program promptly", "[process_runner]") {
    PosixProcessRunner runner;
    std::stop_source stopping;
    Result<ProcessOutcome> result = Failure{};
    std::chrono::milliseconds took{};
    const certheal::test::TempDir dir;
    const auto running = dir.path() / "running";  // the program has started: it can be stopped now
    const std::string script = "echo started; : >" + running.string() + "; sleep 100";
    std::thread worker([&] {
        took = time_of([&] { result = runner.run(shell, {"-c", script}, 30s, stopping.get_token()); });
    });
    const bool started = certheal::test::eventually([&] { return std::filesystem::exists(running); }, 10s);
    stopping.request_stop();
    worker.join();
    REQUIRE(started);
    REQUIRE(result.ok());
    CHECK(result.value().cancelled);
    CHECK_FALSE(result.value().timed_out);
    CHECK(result.value().stdout_tail == "started\n");
    CHECK(took < 3s);
}

TEST_CASE("a stop requested before the start runs nothing", "[process_runner]") {
    PosixProcessRunner runner;
    std::stop_source stopping;
    stopping.request_stop();
    const auto result = runner.run(shell, {"-c", "echo should-not-run"}, 10s, stopping.get_token());
    REQUIRE(result.ok());
    CHECK(result.value().cancelled);
    CHECK(result.value().stdout_tail.empty());
}

TEST_CASE("only the last 4 KiB of each stream is kept", "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run(shell, {"-c", "seq 1 30000; seq 1 20000 >&2"}, 20s, {});
    REQUIRE(result.ok());
    const auto& outcome = result.value();
    CHECK(outcome.exit_code == 0);
    CHECK(outcome.stdout_tail.size() == 4096);
    CHECK(outcome.stderr_tail.size() == 4096);
    CHECK(outcome.stdout_tail.substr(outcome.stdout_tail.size() - 12) == "29999\n30000\n");
    CHECK(outcome.stderr_tail.substr(outcome.stderr_tail.size() - 12) == "19999\n20000\n");
}

TEST_CASE("a background grandchild holding the output open does not keep run waiting", "[process_runner]") {
    PosixProcessRunner runner;
    Result<ProcessOutcome> result = Failure{};
    const auto took = time_of([&] { result = runner.run(shell, {"-c", "sleep 30 & echo $!; exit 3"}, 20s, {}); });
    REQUIRE(result.ok());
    CHECK(result.value().exit_code == 3);
    CHECK_FALSE(result.value().timed_out);
    CHECK(took < 5s);
    const pid_t grandchild = first_line_as_pid(result.value().stdout_tail);
    REQUIRE(grandchild > 0);
    KillAtEnd tidy{{grandchild}};  // left running by design
    CHECK(process_is_alive(grandchild));
    // Listed by pid: its name may still be sh's if it had not yet run sleep when sh exited.
    REQUIRE(result.value().left_running.size() == 1);
    CHECK(entry_pid(result.value().left_running[0]) == grandchild);
    CHECK(result.value().killed.empty());
}

// --- what a run step gets: its environment and working directory ---------------------------

TEST_CASE("a program gets exactly the documented environment, never certheal's", "[process_runner]") {
    // As a site's password_env would be in certheal's environment.
    const ScopedVariable password("CERTHEAL_TEST_PFX_PASSWORD", "hunter2-b7e1c0ffee");
    const ScopedVariable unrelated("CERTHEAL_TEST_UNRELATED", "should-not-pass");
    PosixProcessRunner runner;
    const auto result = runner.run("/usr/bin/env", {}, 10s, {});
    REQUIRE(result.ok());
    REQUIRE(result.value().exit_code == 0);
    const std::string& printed = result.value().stdout_tail;
    INFO(printed);
    CHECK(printed.find("hunter2") == std::string::npos);
    CHECK(printed.find("should-not-pass") == std::string::npos);

    const passwd* account = ::getpwuid(::geteuid());
    REQUIRE(account != nullptr);
    const auto variables = environment_lines(printed);
    std::set<std::string> expected{"PATH", "LANG", "HOME", "USER", "LOGNAME", "CERTHEAL_STEP_ID"};
    if (std::getenv("TZ") != nullptr) expected.insert("TZ");  // certheal's own time zone, when it has one
    CHECK(names_of(variables) == expected);
    CHECK(variables.at("PATH") == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    CHECK(variables.at("LANG") == "C.UTF-8");  // Debian 12's glibc has it built in
    CHECK(variables.at("HOME") == account->pw_dir);
    CHECK(variables.at("USER") == account->pw_name);
    CHECK(variables.at("LOGNAME") == account->pw_name);
    CHECK(variables.at("CERTHEAL_STEP_ID").starts_with(std::to_string(::getpid()) + "."));
    CHECK(runner.step_environment().size() + 1 == variables.size());
}

TEST_CASE("certheal's time zone is passed on, and each run has its own step id", "[process_runner]") {
    const ScopedVariable time_zone("TZ", "Europe/Paris");
    PosixProcessRunner runner;  // takes the environment it passes on when it is made
    const auto first = runner.run("/usr/bin/env", {}, 10s, {});
    const auto second = runner.run("/usr/bin/env", {}, 10s, {});
    REQUIRE(first.ok());
    REQUIRE(second.ok());
    const auto first_variables = environment_lines(first.value().stdout_tail);
    const auto second_variables = environment_lines(second.value().stdout_tail);
    CHECK(first_variables.at("TZ") == "Europe/Paris");
    CHECK(first_variables.at("CERTHEAL_STEP_ID") != second_variables.at("CERTHEAL_STEP_ID"));
}

TEST_CASE("a program still finds the tools it calls by name", "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run(shell, {"-c", "command -v ls && ls / >/dev/null && echo found"}, 10s, {});
    REQUIRE(result.ok());
    CHECK(result.value().exit_code == 0);
    CHECK(result.value().stdout_tail.find("/ls\nfound\n") != std::string::npos);
    CHECK(result.value().stderr_tail.empty());  // no locale warnings either
}

TEST_CASE("a program starts in /, whatever certheal's working directory", "[process_runner]") {
    const auto certheal_folder = std::filesystem::current_path();
    std::filesystem::current_path("/tmp");
    PosixProcessRunner runner;
    const auto result = runner.run("/bin/pwd", {"-P"}, 10s, {});
    std::filesystem::current_path(certheal_folder);
    REQUIRE(result.ok());
    CHECK(result.value().stdout_tail == "/\n");
}

// --- the whole tree: setsid and double-forked descendants -------------------------------------

TEST_CASE("certheal is a child subreaper once it has a runner", "[process_runner]") {
    PosixProcessRunner runner;
    int subreaper = 0;
    REQUIRE(::prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) == 0);
    CHECK(subreaper == 1);
}

TEST_CASE("a timeout kills a setsid() descendant too and lists every process it killed", "[process_runner]") {
    PosixProcessRunner runner;
    Result<ProcessOutcome> result = Failure{};
    const auto took = time_of([&] {
        result = runner.run(shell, {"-c", "setsid sleep 300 & echo $!; sleep 300 & echo $!; wait"}, 1s, {});
    });
    REQUIRE(result.ok());
    const auto& outcome = result.value();
    INFO("killed: " << testing_join(outcome.killed));
    CHECK(outcome.timed_out);
    CHECK(took < 4s);
    const auto sleeps = lines_as_pids(outcome.stdout_tail);
    REQUIRE(sleeps.size() == 2);
    KillAtEnd tidy{sleeps};
    for (const pid_t sleep : sleeps) {
        CHECK_FALSE(process_is_alive(sleep));
        CHECK(lists_pid(outcome.killed, sleep));
    }
    CHECK(stat_fields(sleeps[0]).empty());  // reaped, not a zombie
    REQUIRE(outcome.killed.size() == 3);
    CHECK(outcome.killed[0].ends_with(" sh"));  // the program first
    CHECK(std::count_if(outcome.killed.begin(), outcome.killed.end(),
                        [](const std::string& entry) { return entry.ends_with(" sleep"); }) == 2);
    CHECK(outcome.left_running.empty());
    CHECK(no_zombie_children_within(2s));
}

TEST_CASE("a timeout kills a double-forked daemon whose parent already exited", "[process_runner]") {
    // The subshell exits at once: the setsid sleep is adopted by certheal, with no link to sh
    // left but its CERTHEAL_STEP_ID.
    PosixProcessRunner runner;
    const auto result = runner.run(shell, {"-c", "(setsid sleep 300 & echo $!); sleep 300"}, 1s, {});
    REQUIRE(result.ok());
    const auto& outcome = result.value();
    CHECK(outcome.timed_out);
    const pid_t daemon = first_line_as_pid(outcome.stdout_tail);
    REQUIRE(daemon > 0);
    KillAtEnd tidy{{daemon}};
    CHECK_FALSE(process_is_alive(daemon));
    CHECK(lists_pid(outcome.killed, daemon));
    CHECK(no_zombie_children_within(2s));
}

TEST_CASE("a timeout kills an orphan that cleared its environment but stayed in the program's group",
          "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run(shell, {"-c", "(/usr/bin/env -i /bin/sleep 300 & echo $!); sleep 300"}, 1s, {});
    REQUIRE(result.ok());
    const pid_t orphan = first_line_as_pid(result.value().stdout_tail);
    REQUIRE(orphan > 0);
    KillAtEnd tidy{{orphan}};
    CHECK(result.value().timed_out);
    CHECK_FALSE(process_is_alive(orphan));
    CHECK(lists_pid(result.value().killed, orphan));
    CHECK(no_zombie_children_within(2s));
}

TEST_CASE("a stop request kills a setsid() descendant too", "[process_runner]") {
    PosixProcessRunner runner;
    std::stop_source stopping;
    Result<ProcessOutcome> result = Failure{};
    const certheal::test::TempDir dir;
    const auto spawned = dir.path() / "spawned";  // the setsid() descendant exists
    const std::string script = "setsid sleep 300 & echo $!; : >" + spawned.string() + "; sleep 300";
    std::thread worker([&] { result = runner.run(shell, {"-c", script}, 60s, stopping.get_token()); });
    const bool started = certheal::test::eventually([&] { return std::filesystem::exists(spawned); }, 10s);
    stopping.request_stop();
    worker.join();
    REQUIRE(started);
    REQUIRE(result.ok());
    CHECK(result.value().cancelled);
    const pid_t descendant = first_line_as_pid(result.value().stdout_tail);
    REQUIRE(descendant > 0);
    KillAtEnd tidy{{descendant}};
    CHECK_FALSE(process_is_alive(descendant));
    CHECK(lists_pid(result.value().killed, descendant));
    CHECK(no_zombie_children_within(2s));
}

TEST_CASE("a daemon a program starts is left running on a normal exit, reported, and reaped when it ends",
          "[process_runner]") {
    PosixProcessRunner runner;
    const auto result = runner.run(shell, {"-c", "(setsid sleep 300 &) ; exit 0"}, 10s, {});
    REQUIRE(result.ok());
    const auto& outcome = result.value();
    CHECK(outcome.exit_code == 0);
    CHECK_FALSE(outcome.timed_out);
    CHECK(outcome.killed.empty());
    // One process, whichever name it has at that moment (sh before it runs setsid, setsid,
    // then sleep).
    REQUIRE(outcome.left_running.size() == 1);
    const pid_t daemon = entry_pid(outcome.left_running[0]);
    KillAtEnd tidy{{daemon}};
    REQUIRE(process_is_alive(daemon));
    CHECK(stat_fields(daemon).at(1) == std::to_string(::getpid()));  // adopted by certheal, the subreaper

    ::kill(daemon, SIGTERM);  // as an admin stopping it later: certheal reaps it, no zombie stays
    CHECK(dies_within(daemon, 2s));
    CHECK(no_zombie_children_within(3s));
}

TEST_CASE("a timeout in one run never touches what another run, at the same time, left running",
          "[process_runner]") {
    PosixProcessRunner runner;
    Result<ProcessOutcome> leaves_daemon = Failure{};
    Result<ProcessOutcome> times_out = Failure{};
    // Both daemons are certheal's children while the second run is killed; only their
    // CERTHEAL_STEP_ID tells them apart.
    const certheal::test::TempDir dir;
    const auto daemon_left = dir.path() / "daemon-left";  // the first run's daemon exists
    const std::string leaves = "(setsid sleep 300 &); : >" + daemon_left.string() + "; sleep 2; exit 0";
    std::thread first([&] { leaves_daemon = runner.run(shell, {"-c", leaves}, 10s, {}); });
    std::thread second([&] {
        (void)certheal::test::eventually([&] { return std::filesystem::exists(daemon_left); }, 10s);
        times_out = runner.run(shell, {"-c", "(setsid sleep 300 & echo $!); sleep 300"}, 1s, {});
    });
    first.join();
    second.join();
    REQUIRE(leaves_daemon.ok());
    REQUIRE(times_out.ok());
    REQUIRE(leaves_daemon.value().left_running.size() == 1);
    const pid_t kept = entry_pid(leaves_daemon.value().left_running[0]);
    const pid_t killed = first_line_as_pid(times_out.value().stdout_tail);
    KillAtEnd tidy{{kept, killed}};
    CHECK(times_out.value().timed_out);
    CHECK_FALSE(process_is_alive(killed));
    CHECK(process_is_alive(kept));
    CHECK_FALSE(lists_pid(times_out.value().killed, kept));
}
