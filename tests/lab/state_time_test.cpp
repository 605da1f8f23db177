// The saved repair history and the controls, against real processes: a resume while an operator's
// repair runs, state.json from the future, a wall clock stepped under the running service (with
// tests/lab/wall_clock_shift.cpp preloaded), and storms of SIGHUP and SIGUSR1. Real files, real
// time (bounded waits).

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/base/time_format.hpp"
#include "support/certheal_run.hpp"
#include "support/lab.hpp"
#include "support/wait.hpp"

using certheal::test::eventually;
using namespace std::chrono_literals;
using certheal::test::CerthealRun;
using certheal::test::NginxLab;

namespace {

const std::string kLabScript = CERTHEAL_SOURCE_DIR "/tests/lab/lab.sh";

struct Policy {
    std::string cooldown = "1h";
    int max_attempts = 3;
    std::string circuit_reset_after = "6h";
    std::string first_step;  // a step before the resync, as JSON
};

struct Lab {
    NginxLab nginx;
    std::filesystem::path state = nginx.dir() / "state";
    std::filesystem::path config = nginx.dir() / "certheal.json";
    std::uint16_t status_port = 0;  // service.status_listen on 127.0.0.1 when set

    Lab() { std::filesystem::create_directories(state); }

    void write_config(const Policy& policy) const {
        std::ostringstream json;
        json << R"({
  "service": { "state_dir": ")" << state.string() << R"(")"
             << (status_port == 0 ? "" : R"(, "status_listen": "127.0.0.1:)" + std::to_string(status_port) + "\"")
             << R"( },
  "defaults": { "interval": "300ms", "timeout": "3s", "failure_threshold": 2, "success_threshold": 1 },
  "sites": [ {
      "name": "intranet",
      "url": ")" << nginx.value("url") << R"(",
      "connect_to": "127.0.0.1",
      "tls": { "ca_file": ")" << nginx.value("server_ca") << R"(",
               "client_cert": { "cert_file": ")" << nginx.value("client_cert") << R"(", "key_file": ")"
             << nginx.value("client_key") << R"(" } } } ],
  "remediation": {
    "enabled": true, "cooldown": ")" << policy.cooldown << R"(", "max_attempts": )" << policy.max_attempts << R"(,
    "attempt_window": "1h", "circuit_reset_after": ")" << policy.circuit_reset_after << R"(",
    "steps": [ )" << (policy.first_step.empty() ? "" : policy.first_step + ",") << R"(
      { "run": [")" << kLabScript << R"(", "resync", ")" << nginx.dir().string() << R"("], "timeout": "30s" },
      { "verify": { "attempts": 10, "delay": "200ms" }, "timeout": "30s" } ] } })";
        std::ofstream(config) << json.str();
        ::chmod(config.c_str(), 0644);
    }

    // A saved history: `attempts` repairs and, when asked, an open circuit, all at `when`.
    void write_state(int attempts, bool circuit_open, std::chrono::system_clock::time_point when) const {
        const auto at = certheal::format_time_utc(when);
        nlohmann::json saved = {{"version", 1}, {"attempts", nlohmann::json::array()}, {"last_repair_end", at}};
        for (int index = 0; index < attempts; ++index) saved["attempts"].push_back(at);
        saved["circuit"] = circuit_open ? nlohmann::json{{"opened_at", at}, {"incident", "20261129T000000-1"}}
                                        : nlohmann::json(nullptr);
        std::ofstream(state / "state.json") << saved.dump(2);
    }
    nlohmann::json saved_state() const {
        std::ifstream in(state / "state.json");
        return nlohmann::json::parse(in);
    }
    std::vector<nlohmann::json> events(const std::string& name) const {
        std::vector<nlohmann::json> found;
        for (const auto& record : certheal::read_journal(state / "journal.jsonl", std::nullopt, nullptr)) {
            if (record.value("event", "") == name) found.push_back(record);
        }
        return found;
    }
};

// `certheal <args>` to its end: its exit code and what it printed.
std::pair<int, std::string> certheal_command(const std::string& args, const std::filesystem::path& scratch) {
    const auto output = scratch / "command.out";
    const std::string command = std::string(CERTHEAL_BINARY) + " " + args + " >" + output.string() + " 2>&1";
    const int status = std::system(command.c_str());
    std::ifstream in(output);
    std::stringstream text;
    text << in.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

// Waits (bounded) for a child started with start_process to exit; its exit code, or -1.
int wait_for_exit(int pid, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        std::this_thread::sleep_for(50ms);
    }
    certheal::test::stop_process(pid, 2s);
    return -1;
}

}  // namespace

TEST_CASE("certheal resume while an operator's repair runs is not undone when that repair ends",
          "[state][operator][lab]") {
    Lab lab;
    Policy policy;
    policy.first_step = R"({ "run": ["/bin/sleep", "4"], "timeout": "30s" })";
    lab.write_config(policy);
    lab.write_state(3, true, std::chrono::system_clock::now() - 1min);  // the service gave up
    CerthealRun service(lab.config.string(), lab.state.string());
    REQUIRE(service.wait_for("service_started", 20s));

    // An operator forces a repair by hand; while its first step runs, another resumes the service.
    const int repair = certheal::test::start_process(
        {CERTHEAL_BINARY, "repair", "--force", "--config", lab.config.string()}, lab.nginx.dir() / "repair.out");
    REQUIRE(eventually([&] { return !lab.events("repair_started").empty(); }, 20s));
    const auto [resumed, resume_output] = certheal_command("resume --config " + lab.config.string(), lab.nginx.dir());
    INFO(resume_output);
    CHECK(resumed == 0);
    REQUIRE(service.wait_for("circuit_closed", 10s));
    CHECK(wait_for_exit(repair, 60s) == 0);

    // The repair's end kept the resume: no old attempt came back, the circuit stays closed.
    const auto saved = lab.saved_state();
    INFO(saved.dump(2));
    CHECK(saved["circuit"].is_null());
    CHECK(saved["attempts"].empty());
    CHECK(saved["operator_reset_at"].is_string());
    CHECK(saved["last_repair"]["manual"] == true);
    CHECK(lab.events("repair_started")[0].value("incident", "") == saved["last_repair"].value("incident", "x"));
    CHECK(service.stop() == 0);
}

TEST_CASE("certheal resume refuses a configuration that others can change, as run and repair do",
          "[state][operator][lab]") {
    Lab lab;
    lab.write_config({});
    lab.write_state(3, true, std::chrono::system_clock::now() - 1min);
    ::chmod(lab.config.c_str(), 0666);
    const auto [code, output] = certheal_command("resume --config " + lab.config.string(), lab.nginx.dir());
    INFO(output);
    CHECK(code == 2);
    CHECK_THAT(output, Catch::Contains("certheal resume refused to run") && Catch::Contains("allow_insecure_config_acl"));
    CHECK_FALSE(lab.saved_state()["circuit"].is_null());  // nothing was reset
}

TEST_CASE("a saved history from a clock that ran 20 hours ahead is kept, said, and holds no longer than configured",
          "[state][time][lab]") {
    Lab lab;
    Policy policy;
    policy.circuit_reset_after = "4s";
    lab.write_config(policy);
    lab.write_state(3, true, std::chrono::system_clock::now() + 20h);
    CerthealRun service(lab.config.string(), lab.state.string());
    REQUIRE(service.wait_for("service_started", 20s));

    // The circuit closes 4 s after certheal read it, not 20 hours and 4 s later.
    REQUIRE(service.wait_for("circuit_closed", 15s));
    const auto clamped = lab.events("repair_skipped");
    REQUIRE(clamped.size() == 1);
    CHECK(clamped[0].value("reason", "") == "state_times_clamped");
    CHECK(clamped[0].value("clamped", 0) == 5);
    CHECK_THAT(clamped[0].value("message", ""), Catch::Contains("ahead of this host's clock"));
    // The history was kept (not replaced by a fresh one): its three attempts still count.
    const auto saved = lab.saved_state();
    INFO(saved.dump(2));
    REQUIRE(saved["attempts"].size() == 3);
    const auto now = std::chrono::system_clock::now();
    for (const auto& attempt : saved["attempts"]) {
        CHECK(*certheal::parse_time_utc(attempt["counted_from"].get<std::string>()) <= now);
    }
    CHECK(service.stop() == 0);
}

TEST_CASE("a wall clock that ran 20 hours ahead and is set back under the running service does not hold repairs",
          "[state][time][lab]") {
    Lab lab;
    lab.status_port = certheal::test::closed_port();
    Policy policy;
    policy.cooldown = "5s";
    policy.max_attempts = 5;
    lab.write_config(policy);
    const auto shift = lab.nginx.dir() / "wall-clock-shift";
    std::ofstream(shift) << 20 * 3600 << "\n";  // the host's clock runs 20 hours ahead

    // tests/lab/wall_clock_shift.cpp moves the wall clock of the certheal process only (not its
    // monotonic clock, nor nginx's); the file is read again at most every 100 ms.
    lab.nginx.desync();
    ::setenv("LD_PRELOAD", CERTHEAL_WALL_CLOCK_SHIFT, 1);
    ::setenv("CERTHEAL_WALL_CLOCK_SHIFT_FILE", shift.c_str(), 1);
    CerthealRun service(lab.config.string(), lab.state.string());
    ::unsetenv("LD_PRELOAD");
    ::unsetenv("CERTHEAL_WALL_CLOCK_SHIFT_FILE");

    const auto console = [&] {
        std::ifstream err(service.stderr_path());
        std::stringstream text;
        text << err.rdbuf();
        return text.str();
    };
    if (!service.wait_for("repair_succeeded", 60s)) FAIL("no repair; certheal's console:\n" << console());
    const auto first = lab.events("repair_started");
    REQUIRE(first.size() == 1);
    const auto first_at = *certheal::parse_time_utc(first[0].value("time", ""));
    CHECK(first_at > std::chrono::system_clock::now() + 19h);  // the process saw the clock ahead

    // NTP sets the clock right: 20 hours back. Then the trust breaks again.
    std::ofstream(shift) << "0\n";
    // The process's own clock is back (the time its metrics carry), before the trust breaks again.
    REQUIRE(eventually(
        [&] {
            const auto seen = certheal::test::metric_reported(lab.status_port,
                                                              "certheal_metrics_generated_timestamp_seconds");
            const auto real = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count();
            return seen && *seen < real + 3600;
        },
        10s));
    lab.nginx.desync();

    // The 5 s cooldown is measured on the monotonic clock: the second repair comes within
    // seconds, not when the wall clock reaches the first repair's time again.
    if (!eventually([&] { return lab.events("repair_succeeded").size() == 2; }, 40s)) {
        FAIL("no second repair; certheal's console:\n" << console());
    }
    for (const auto& skipped : lab.events("repair_skipped")) {
        const auto retry = certheal::parse_time_utc(skipped.value("retry_after", ""));
        if (retry) CHECK(*retry < std::chrono::system_clock::now() + 1min);
    }
    const auto saved = lab.saved_state();
    INFO(saved.dump(2));
    CHECK(saved["attempts"].size() == 2);
    CHECK(service.stop() == 0);
}

TEST_CASE("a storm of 1000 SIGHUP and 1000 SIGUSR1 is answered with one reload and one resume",
          "[state][control][lab]") {
    Lab lab;
    lab.status_port = certheal::test::closed_port();
    lab.write_config({});
    lab.write_state(3, true, std::chrono::system_clock::now() - 1min);
    CerthealRun service(lab.config.string(), lab.state.string());
    REQUIRE(service.wait_for("service_started", 20s));
    REQUIRE(eventually([&] { return std::filesystem::exists(lab.state / "status.json"); }, 10s));

    for (int signal_number : {SIGHUP, SIGUSR1}) {
        for (int index = 0; index < 1000; ++index) REQUIRE(::kill(service.pid, signal_number) == 0);
    }
    REQUIRE(service.wait_for("config_reloaded", 10s));
    REQUIRE(service.wait_for("circuit_closed", 10s));
    // Ten probe rounds at 300 ms: longer than the longest a burst is held (2 s). Nothing more comes.
    REQUIRE(certheal::test::wait_for_probe_rounds(lab.status_port, "intranet", 10, 30s));
    CHECK(service.count("config_reloaded") == 1);
    CHECK(service.count("circuit_closed") == 1);
    const auto closed = lab.events("circuit_closed");
    REQUIRE(closed.size() == 1);
    CHECK_THAT(closed[0].value("requested_by", ""), Catch::Contains("SIGUSR1"));
    CHECK(service.stop() == 0);
}
