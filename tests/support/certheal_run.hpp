#pragma once
// `certheal run --console` as a child process, for the lab tests (header only: it needs
// CERTHEAL_BINARY, which only the lab test executable defines). POSIX only.
#if defined(__unix__) || defined(__APPLE__)

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/record/journal.hpp"
#include "support/lab.hpp"

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

// A value of a running certheal's /metrics (service.status_listen = 127.0.0.1:status_port), by
// its series: the name with its labels, e.g. certheal_probes_total{site="intranet"}. The endpoint
// answers from the monitor's live status, unlike status.json, which is rewritten at most every few
// seconds. nullopt when the endpoint does not answer or does not list the series.
inline std::optional<long long> metric_reported(std::uint16_t status_port, const std::string& series) {
    const int fd = connect_to_loopback(status_port);
    if (fd < 0) return std::nullopt;
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    std::string answer;
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
        char buffer[4096];
        for (ssize_t got; (got = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) {
            answer.append(buffer, static_cast<std::size_t>(got));
        }
    }
    ::close(fd);
    const auto at = answer.find("\n" + series + " ");
    if (at == std::string::npos) return std::nullopt;
    return std::stoll(answer.substr(at + series.size() + 2));
}

// The probes of `site` the running certheal has counted.
inline std::optional<long long> probes_reported(std::uint16_t status_port, const std::string& site) {
    return metric_reported(status_port, "certheal_probes_total{site=\"" + site + "\"}");
}

// Waits (bounded, real time) until certheal reports `rounds` more probes of `site` than when
// called. Tests that prove nothing happened watch over this window: it is measured in the
// process's own probe rounds, so a slow machine stretches it instead of cutting it short.
inline bool wait_for_probe_rounds(std::uint16_t status_port, const std::string& site, long long rounds,
                                  std::chrono::seconds limit) {
    using namespace std::chrono_literals;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::optional<long long> start;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto probes = probes_reported(status_port, site);
        if (probes && !start) start = probes;
        if (probes && *probes >= *start + rounds) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

}  // namespace certheal::test

#endif
