#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <stop_token>
#include <thread>

#include <sys/types.h>

#include "service/posix/process_runner.hpp"

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
    std::thread worker([&] {
        took = time_of([&] { result = runner.run(shell, {"-c", "echo started; sleep 100"}, 30s, stopping.get_token()); });
    });
    std::this_thread::sleep_for(200ms);
    stopping.request_stop();
    worker.join();
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
    CHECK(process_is_alive(grandchild));
    ::kill(grandchild, SIGKILL);  // left running by design; tidy up after the test
}
