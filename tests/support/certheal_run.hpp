#pragma once
// `certheal run --console` as a child process, for the lab tests (header only: it needs
// CERTHEAL_BINARY, which only the lab test executable defines). POSIX only.
#if defined(__unix__) || defined(__APPLE__)

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/record/journal.hpp"

extern char** environ;

namespace certheal::test {

// The certheal binary the lab tests run: CERTHEAL_TEST_BINARY when set (to run the same tests
// against another build, an older one say), else the one built beside them.
inline std::string certheal_binary() {
    const char* chosen = std::getenv("CERTHEAL_TEST_BINARY");
    return chosen != nullptr && *chosen != '\0' ? std::string(chosen) : std::string(CERTHEAL_BINARY);
}

// Started with `--config config`; its stdout and stderr go to <state>.stdout and <state>.stderr
// (beside the state folder, not in it). Stopped with SIGTERM by stop(), killed by the destructor.
struct CerthealRun {
    pid_t pid = -1;
    std::string state_dir;

    CerthealRun(const std::string& config, std::string state) : state_dir(std::move(state)) {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        const std::string out = stdout_path(), err = stderr_path();
        posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        std::string binary = certheal_binary();
        std::vector<std::string> args = {binary, "run", "--console", "--config", config};
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        REQUIRE(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ) == 0);
        posix_spawn_file_actions_destroy(&actions);
    }
    ~CerthealRun() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    CerthealRun(const CerthealRun&) = delete;
    CerthealRun& operator=(const CerthealRun&) = delete;

    std::string stdout_path() const { return state_dir + ".stdout"; }
    std::string stderr_path() const { return state_dir + ".stderr"; }

    std::vector<nlohmann::json> journal() const {
        return certheal::read_journal(state_dir + "/journal.jsonl", std::nullopt, nullptr);
    }
    std::size_t count(const std::string& event) const {
        std::size_t found = 0;
        for (const auto& record : journal()) found += record.value("event", "") == event;
        return found;
    }
    // Waits (bounded, real time) until the journal holds `event`.
    bool wait_for(const std::string& event, std::chrono::seconds limit) const {
        using namespace std::chrono_literals;
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (count(event) > 0) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
    int stop() {
        using namespace std::chrono_literals;
        ::kill(pid, SIGTERM);
        int status = 0;
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < deadline) {
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                pid = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(20ms);
        }
        return -1;
    }
};

}  // namespace certheal::test

#endif
