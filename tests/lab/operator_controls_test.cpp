// The operator's commands against the nginx lab: `certheal repair`, `certheal resume` (with and
// without a running service), `certheal status` and the metrics textfile. Real processes, real
// files, real time (bounded waits).

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/file.h>
#include <sys/stat.h>
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

struct Finished {
    int exit_code = -1;
    std::string out;  // stdout and stderr together
};

// Runs `certheal <args>` to its end and returns its exit code and everything it printed.
Finished run_certheal(const std::string& args, const std::filesystem::path& scratch) {
    const auto output = scratch / "command.out";
    const std::string command = std::string(CERTHEAL_BINARY) + " " + args + " >" + output.string() + " 2>&1";
    const int status = std::system(command.c_str());
    Finished finished;
    finished.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(output);
    std::stringstream text;
    text << in.rdbuf();
    finished.out = text.str();
    return finished;
}

struct Lab {
    NginxLab nginx;
    std::filesystem::path state = nginx.dir() / "state";
    std::filesystem::path config = nginx.dir() / "certheal.json";
    std::filesystem::path textfiles = nginx.dir() / "textfiles";
    std::uint16_t status_port = 0;  // service.status_listen on 127.0.0.1 when set

    Lab() {
        std::filesystem::create_directories(state);
        std::filesystem::create_directories(textfiles);
        write_config("1h", 3);
    }

    void write_config(const std::string& cooldown, int max_attempts) const {
        std::ostringstream json;
        json << R"({
  "service": { "state_dir": ")" << state.string() << R"(", "textfile_dir": ")" << textfiles.string() << R"(")"
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
    "enabled": true, "cooldown": ")" << cooldown << R"(", "max_attempts": )" << max_attempts << R"(,
    "attempt_window": "1h", "circuit_reset_after": "6h",
    "steps": [
      { "run": [")" << kLabScript << R"(", "resync", ")" << nginx.dir().string() << R"("], "timeout": "30s" },
      { "verify": { "attempts": 5, "delay": "200ms" }, "timeout": "30s" } ] } })";
        std::ofstream(config) << json.str();
        ::chmod(config.c_str(), 0644);
    }

    // A saved history as the service would have left it: `attempts` repairs just now, and the
    // circuit open when asked.
    void write_state(int attempts, bool circuit_open) const {
        const auto now = certheal::format_time_utc(std::chrono::system_clock::now() - 1min);
        nlohmann::json state = {{"version", 1}, {"attempts", nlohmann::json::array()}, {"last_repair_end", now}};
        for (int index = 0; index < attempts; ++index) state["attempts"].push_back(now);
        state["circuit"] = circuit_open ? nlohmann::json{{"opened_at", now}, {"incident", "20261129T000000-1"}}
                                        : nlohmann::json(nullptr);
        std::ofstream(state_file()) << state.dump(2);
    }

    std::filesystem::path state_file() const { return state / "state.json"; }
    nlohmann::json saved_state() const {
        std::ifstream in(state_file());
        return nlohmann::json::parse(in);
    }
    std::vector<nlohmann::json> journal() const {
        return certheal::read_journal(state / "journal.jsonl", std::nullopt, nullptr);
    }
    std::vector<nlohmann::json> events(const std::string& name) const {
        std::vector<nlohmann::json> found;
        for (const auto& record : journal()) {
            if (record.value("event", "") == name) found.push_back(record);
        }
        return found;
    }
    std::string args(const std::string& command) const { return command + " --config " + config.string(); }
};

}  // namespace

TEST_CASE("certheal repair runs the workflow by hand, verifies the site and marks its events manual",
          "[operator][lab]") {
    Lab lab;
    lab.nginx.desync();
    const auto repaired = run_certheal(lab.args("repair"), lab.nginx.dir());
    INFO(repaired.out);
    CHECK(repaired.exit_code == 0);
    CHECK_THAT(repaired.out, Catch::Contains("repair_started") && Catch::Contains("repair_succeeded"));

    const auto started = lab.events("repair_started");
    REQUIRE(started.size() == 1);
    CHECK(started[0].value("manual", false));
    const auto succeeded = lab.events("repair_succeeded");
    REQUIRE(succeeded.size() == 1);
    CHECK(succeeded[0].value("manual", false));
    CHECK(succeeded[0].value("incident", "") == started[0].value("incident", "x"));

    const auto state = lab.saved_state();
    CHECK(state["attempts"].size() == 1);
    CHECK(state["last_repair"]["manual"] == true);
    CHECK(state["last_repair"]["succeeded"] == true);
}

TEST_CASE("certheal repair ignores the cooldown but counts toward the budget", "[operator][lab]") {
    Lab lab;
    lab.write_state(1, false);  // a repair a minute ago: the 1 h cooldown runs
    const auto repaired = run_certheal(lab.args("repair"), lab.nginx.dir());
    INFO(repaired.out);
    CHECK(repaired.exit_code == 0);
    CHECK(lab.saved_state()["attempts"].size() == 2);
}

TEST_CASE("certheal repair is refused while the circuit is open, and --force repairs anyway", "[operator][lab]") {
    Lab lab;
    lab.write_state(3, true);
    const auto refused = run_certheal(lab.args("repair"), lab.nginx.dir());
    INFO(refused.out);
    CHECK(refused.exit_code == 3);
    CHECK_THAT(refused.out, Catch::Contains("circuit breaker is open") && Catch::Contains("certheal resume"));
    const auto skipped = lab.events("repair_skipped");
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].value("reason", "") == "circuit_open");
    CHECK(skipped[0].value("manual", false));
    CHECK(lab.events("repair_started").empty());

    const auto forced = run_certheal(lab.args("repair --force"), lab.nginx.dir());
    INFO(forced.out);
    CHECK(forced.exit_code == 0);
    CHECK(lab.events("repair_succeeded").size() == 1);
}

TEST_CASE("certheal repair never overlaps another repair holding the host-wide lock", "[operator][lab]") {
    Lab lab;
    const auto lock_file = lab.state / "repair.lock";
    const int held = ::open(lock_file.c_str(), O_RDWR | O_CREAT, 0600);
    REQUIRE(held >= 0);
    REQUIRE(::flock(held, LOCK_EX | LOCK_NB) == 0);  // as the service does while it repairs
    const auto refused = run_certheal(lab.args("repair"), lab.nginx.dir());
    ::close(held);
    INFO(refused.out);
    CHECK(refused.exit_code == 3);
    CHECK_THAT(refused.out, Catch::Contains("Another repair is running on this host"));
    CHECK(lab.events("repair_started").empty());
    CHECK_FALSE(std::filesystem::exists(lab.state_file()));  // nothing counted
}

TEST_CASE("certheal repair --dry-run changes nothing and counts nothing", "[operator][lab]") {
    Lab lab;
    lab.nginx.desync();
    const auto dry = run_certheal(lab.args("repair --dry-run"), lab.nginx.dir());
    INFO(dry.out);
    CHECK(dry.exit_code == 0);
    CHECK_THAT(dry.out, Catch::Contains("(run) would run") && Catch::Contains("    step: run"));
    CHECK_FALSE(std::filesystem::exists(lab.state_file()));
    // Still desynchronised: the step did not run.
    const auto probed = run_certheal(lab.args("probe"), lab.nginx.dir());
    CHECK(probed.exit_code == 1);
}

TEST_CASE("certheal resume without a running service closes the circuit and clears the budget in the state file",
          "[operator][lab]") {
    Lab lab;
    lab.write_state(3, true);
    const auto resumed = run_certheal(lab.args("resume"), lab.nginx.dir());
    INFO(resumed.out);
    CHECK(resumed.exit_code == 0);
    const auto state = lab.saved_state();
    CHECK(state["circuit"].is_null());
    CHECK(state["attempts"].empty());
    const auto closed = lab.events("circuit_closed");
    REQUIRE(closed.size() == 1);
    CHECK(closed[0].value("reason", "") == "operator");
}

TEST_CASE("certheal resume asks the running service, which closes its circuit at once", "[operator][lab]") {
    Lab lab;
    lab.write_state(3, true);
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(run.wait_for("service_started", 20s));
    REQUIRE(eventually([&] { return std::filesystem::exists(lab.state / "certheal.pid"); }, 10s));

    const auto resumed = run_certheal(lab.args("resume"), lab.nginx.dir());
    INFO(resumed.out);
    CHECK(resumed.exit_code == 0);
    CHECK_THAT(resumed.out, Catch::Contains("The running certheal (pid " + std::to_string(run.pid)));
    REQUIRE(run.wait_for("circuit_closed", 10s));
    const auto closed = lab.events("circuit_closed");
    REQUIRE(closed.size() == 1);
    CHECK(closed[0].value("reason", "") == "operator");
    CHECK_THAT(closed[0].value("requested_by", ""), Catch::Contains("SIGUSR1"));
    CHECK(lab.saved_state()["circuit"].is_null());
    CHECK(run.stop() == 0);
    CHECK_FALSE(std::filesystem::exists(lab.state / "certheal.pid"));
}

TEST_CASE("certheal status shows the running service, its policy and each site's class and certificates",
          "[operator][lab]") {
    Lab lab;
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(eventually(
        [&] {
            std::ifstream in(lab.state / "status.json");
            const auto document = nlohmann::json::parse(in, nullptr, false);
            return !document.is_discarded() && document["sites"].size() == 1 &&
                   document["sites"][0]["class"] == "healthy";
        },
        20s));

    const auto shown = run_certheal(lab.args("status"), lab.nginx.dir());
    INFO(shown.out);
    CHECK(shown.exit_code == 0);
    CHECK_THAT(shown.out, Catch::Contains("certheal:     running (pid " + std::to_string(run.pid)));
    CHECK_THAT(shown.out, Catch::Contains("the site is healthy"));
    CHECK_THAT(shown.out, Catch::Contains("remediation:  enabled"));
    CHECK_THAT(shown.out, Catch::Contains("circuit breaker closed") && Catch::Contains("0 of 3 attempts"));
    CHECK_THAT(shown.out, Catch::Contains("intranet") && Catch::Contains("healthy"));
    std::istringstream lines(shown.out);
    for (std::string line; std::getline(lines, line);) {
        INFO(line);
        CHECK(line.size() <= 80);
    }

    const auto as_json = run_certheal(lab.args("status --json"), lab.nginx.dir());
    const auto report = nlohmann::json::parse(as_json.out);
    CHECK(report["service"]["running"] == true);
    CHECK(report["service"]["pid"] == run.pid);
    const auto& site = report["status"]["sites"][0];
    CHECK(site["name"] == "intranet");
    CHECK(site["class"] == "healthy");
    CHECK(site["client_cert_not_after"].is_string());
    CHECK(site["server_cert_not_after"].is_string());
    CHECK(site["next_probe"].is_string());
    CHECK(report["status"]["policy"]["attempts_left"] == 3);
    CHECK(report["status"]["remediation"]["mode"] == "enabled");
    CHECK(report["health"] == "healthy");
    CHECK(as_json.exit_code == 0);

    CHECK(run.stop() == 0);
    const auto stopped = run_certheal(lab.args("status"), lab.nginx.dir());
    CHECK_THAT(stopped.out, Catch::Contains("certheal:     not running") && Catch::Contains("when it last ran"));
    CHECK(stopped.exit_code == 3);
}

TEST_CASE("certheal status exits 1 and names the site while a site is unhealthy", "[operator][lab]") {
    Lab lab;
    lab.write_state(0, /*circuit_open=*/true);  // no repair heals it behind the test's back
    lab.nginx.desync();
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(eventually(
        [&] {
            std::ifstream in(lab.state / "status.json");
            const auto document = nlohmann::json::parse(in, nullptr, false);
            return !document.is_discarded() && document["sites"].size() == 1 &&
                   document["sites"][0]["class"] == "client_cert_rejected";
        },
        20s));
    const auto down = run_certheal(lab.args("status"), lab.nginx.dir());
    INFO(down.out);
    CHECK(down.exit_code == 1);
    CHECK_THAT(down.out, Catch::Contains("1 of 1 site not healthy: intranet"));
    CHECK_THAT(down.out, Catch::Contains("circuit breaker OPEN") && Catch::Contains("certheal resume"));
    const auto as_json = run_certheal(lab.args("status --json"), lab.nginx.dir());
    CHECK(as_json.exit_code == 1);
    CHECK(nlohmann::json::parse(as_json.out)["health"] == "unhealthy");
    CHECK(run.stop() == 0);
}

TEST_CASE("certheal probe says whether the class would start a repair", "[operator][lab]") {
    Lab lab;
    lab.nginx.desync();
    const auto table = run_certheal(lab.args("probe"), lab.nginx.dir());
    INFO(table.out);
    CHECK(table.exit_code == 1);
    CHECK_THAT(table.out, Catch::Contains("REPAIR"));
    CHECK_THAT(table.out, Catch::Contains("client_cert_rejected  yes"));
    const auto as_json = run_certheal(lab.args("probe --json"), lab.nginx.dir());
    const auto line = nlohmann::json::parse(as_json.out);
    CHECK(line["class"] == "client_cert_rejected");
    CHECK(line["symptom"] == true);
    CHECK(line["would_repair"] == true);

    lab.nginx.resync();
    const auto healthy = nlohmann::json::parse(run_certheal(lab.args("probe --json"), lab.nginx.dir()).out);
    CHECK(healthy["class"] == "healthy");
    CHECK(healthy["symptom"] == false);
    CHECK(healthy["would_repair"] == false);
}

TEST_CASE("certheal history --follow prints new events as they are written, across rotation, until SIGINT",
          "[operator][lab][journal]") {
    Lab lab;
    const auto journal = lab.state / "journal.jsonl";
    const auto line = [](const std::string& event, const std::string& site) {
        const bool incident = event != "service_started" && site == "intranet";
        return nlohmann::json{{"time", certheal::format_time_utc(std::chrono::system_clock::now())},
                              {"id", 1001}, {"event", event}, {"site", site},
                              {"incident", incident ? nlohmann::json("20261205T023001-7") : nlohmann::json(nullptr)},
                              {"message", "m"}}
                   .dump() +
               "\n";
    };
    std::ofstream(journal) << line("service_started", "intranet") << line("probe_failed", "other");

    const auto output = lab.nginx.dir() / "follow.out";
    pid_t pid = -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, output.c_str(), O_WRONLY | O_APPEND, 0644);
    std::vector<std::string> args = {CERTHEAL_BINARY, "history", "--follow", "--json", "--site", "intranet",
                                     "--config", lab.config.string()};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    REQUIRE(posix_spawn(&pid, CERTHEAL_BINARY, &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    const auto printed = [&output]() {
        std::ifstream in(output);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    };
    const auto count_of = [&printed](const std::string& event) {
        const auto text = printed();
        std::size_t found = 0;
        for (auto at = text.find(event); at != std::string::npos; at = text.find(event, at + 1)) ++found;
        return found;
    };
    CHECK(eventually([&] { return count_of("service_started") == 1; }, 10s));

    // Appended as the service appends: the follower wakes up and prints it.
    std::ofstream(journal, std::ios::app) << line("symptom_confirmed", "intranet") << line("probe_failed", "other");
    CHECK(eventually([&] { return count_of("symptom_confirmed") == 1; }, 10s));
    // Rotated, with one last record in the old file, then the new file.
    std::ofstream(journal, std::ios::app) << line("repair_started", "intranet");
    // A step of the incident names no site: --site shows it as part of the site's incident.
    std::ofstream(journal, std::ios::app)
        << nlohmann::json{{"time", certheal::format_time_utc(std::chrono::system_clock::now())}, {"id", 3001},
                          {"event", "step_succeeded"}, {"site", nullptr}, {"incident", "20261205T023001-7"},
                          {"message", "m"}}
                   .dump()
        << "\n";
    std::filesystem::rename(journal, lab.state / "journal.1.jsonl");
    std::ofstream(journal) << line("repair_succeeded", "intranet");
    CHECK(eventually([&] { return count_of("repair_succeeded") == 1; }, 10s));
    CHECK(count_of("repair_started") == 1);
    CHECK(count_of("step_succeeded") == 1);
    CHECK(count_of("other") == 0);  // --site keeps to its site

    ::kill(pid, SIGINT);
    int status = -1;
    const bool ended = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 10s);
    if (!ended) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    CHECK(ended);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    INFO(printed());
    CHECK(count_of("service_started") == 1);  // nothing twice
}

TEST_CASE("the metrics textfile is replaced whole, never half-written, and carries the expiry gauges",
          "[operator][lab]") {
    Lab lab;
    CerthealRun run(lab.config.string(), lab.state.string());
    const auto textfile = lab.textfiles / "certheal.prom";
    REQUIRE(eventually([&] { return std::filesystem::exists(textfile); }, 20s));

    // Read it as a collector would, as fast as possible, across several rewrites: every read is
    // a whole exposition. A healthy site's probes only move counters (rewritten once a minute),
    // so reloads (a significant change: rewritten within seconds, at most every 5 s) make the
    // rewrites come while it is read.
    int reads = 0;
    int torn = 0;
    int stray = 0;
    std::set<std::string> generations;
    const auto started = std::chrono::steady_clock::now();
    const auto until = started + 7500ms;
    auto next_reload = started;
    while (std::chrono::steady_clock::now() < until) {
        if (std::chrono::steady_clock::now() >= next_reload) {
            ::kill(run.pid, SIGHUP);
            next_reload += 500ms;
        }
        std::ifstream in(textfile);
        std::stringstream text;
        text << in.rdbuf();
        const auto body = text.str();
        ++reads;
        const auto last = body.rfind("certheal_metrics_generated_timestamp_seconds ");
        const bool whole = body.rfind("# HELP certheal_up", 0) == 0 && last != std::string::npos && body.back() == '\n';
        if (!whole) {
            ++torn;
            continue;
        }
        generations.insert(body.substr(last));
        for (const auto& entry : std::filesystem::directory_iterator(lab.textfiles)) {
            // A collector reads *.prom: the temporary never has that name.
            if (entry.path().extension() == ".prom" && entry.path().filename() != "certheal.prom") ++stray;
        }
    }
    CHECK(torn == 0);
    CHECK(stray == 0);
    CHECK(reads > 100);
    CHECK(generations.size() >= 2);  // it was rewritten while being read

    std::ifstream in(textfile);
    std::stringstream text;
    text << in.rdbuf();
    CHECK_THAT(text.str(), Catch::Contains("certheal_client_cert_not_after_seconds{site=\"intranet\"} "));
    CHECK_THAT(text.str(), Catch::Contains("certheal_server_cert_not_after_seconds{site=\"intranet\"} "));
    CHECK_THAT(text.str(), Catch::Contains("certheal_site_class{site=\"intranet\",class=\"healthy\"} 1"));
    CHECK_THAT(text.str(), Catch::Contains("certheal_probe_phase_seconds{site=\"intranet\",phase=\"tls\"} "));
    CHECK(run.stop() == 0);
}

TEST_CASE("certheal status reads a hostile state.json and status.json as problems, not a crash", "[operator][lab][hostile]") {
    Lab lab;
    std::ofstream(lab.state_file()) << std::string(100000, '[') << std::string(100000, ']');
    std::ofstream(lab.state / "status.json") << "{\"sites\": [" << std::string(50000, '{');
    for (const char* args : {"status", "status --json"}) {
        const auto shown = run_certheal(lab.args(args), lab.nginx.dir());
        INFO(shown.out);
        CHECK(shown.exit_code == 3);  // no service, no readable status: cannot tell
        CHECK_THAT(shown.out, Catch::Contains("nests deeper than 32 levels"));
    }
}

TEST_CASE("certheal history streams the rotated journals oldest first, then the current one", "[operator][lab][journal]") {
    Lab lab;
    const auto line = [](const std::string& time, const std::string& event) {
        return nlohmann::json{{"time", time}, {"event", event}, {"id", 1001}, {"message", "m"}}.dump() + "\n";
    };
    std::ofstream(lab.state / "journal.2.jsonl") << line("2026-11-01T00:00:00.000Z", "service_started");
    std::ofstream(lab.state / "journal.1.jsonl") << line("2026-11-02T00:00:00.000Z", "config_reloaded");
    std::ofstream(lab.state / "journal.jsonl") << line("2026-11-03T00:00:00.000Z", "service_stopped")
                                               << "{torn\n";
    const auto shown = run_certheal(lab.args("history --json"), lab.nginx.dir());
    INFO(shown.out);
    CHECK(shown.exit_code == 0);
    const auto first = shown.out.find("service_started");
    const auto second = shown.out.find("config_reloaded");
    const auto third = shown.out.find("service_stopped");
    CHECK(first < second);
    CHECK(second < third);
    CHECK(third != std::string::npos);
    CHECK_THAT(shown.out, Catch::Contains("Skipped 1 line"));
}

TEST_CASE("certheal pause holds the running service's repair of a desync, and unpause lets it repair",
          "[operator][lab][pause]") {
    Lab lab;
    lab.status_port = certheal::test::closed_port();
    lab.write_config("1h", 3);
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(run.wait_for("service_started", 20s));
    REQUIRE(eventually([&] { return std::filesystem::exists(lab.state / "certheal.pid"); }, 10s));

    const auto paused = run_certheal(lab.args("pause --for 1h --reason 'nginx upgrade'"), lab.nginx.dir());
    INFO(paused.out);
    REQUIRE(paused.exit_code == 0);
    REQUIRE(lab.events("paused").size() == 1);
    const auto said = lab.events("paused")[0];
    CHECK(said.value("scope", "") == "host");
    CHECK(said.value("reason", "") == "nginx upgrade");
    CHECK_FALSE(said.value("by", "").empty());
    CHECK(said.value("manual", false));
    // The running service heard of it (SIGUSR2) and shows it.
    REQUIRE(eventually(
        [&] {
            std::ifstream in(lab.textfiles / "certheal.prom");
            std::stringstream text;
            text << in.rdbuf();
            return text.str().find("certheal_remediation_mode{mode=\"paused\"} 1") != std::string::npos;
        },
        15s));
    const auto shown = run_certheal(lab.args("status"), lab.nginx.dir());
    INFO(shown.out);
    CHECK_THAT(shown.out, Catch::Contains("remediation:  PAUSED until") && Catch::Contains("(nginx upgrade)"));

    lab.nginx.desync();
    REQUIRE(run.wait_for("symptom_confirmed", 20s));
    REQUIRE(eventually([&] { return !lab.events("repair_skipped").empty(); }, 10s));
    const auto held = lab.events("repair_skipped")[0];
    CHECK(held.value("reason", "") == "paused");
    CHECK(held.value("retry_after", "") == said.value("until", "-"));
    // Several more probes of the broken site: still no repair.
    REQUIRE(certheal::test::wait_for_probe_rounds(lab.status_port, "intranet", 5, 20s));
    CHECK(lab.events("repair_started").empty());

    const auto unpaused = run_certheal(lab.args("unpause"), lab.nginx.dir());
    INFO(unpaused.out);
    CHECK(unpaused.exit_code == 0);
    REQUIRE(lab.events("unpaused").size() == 1);
    CHECK(lab.events("unpaused")[0].value("by", "") == said.value("by", ""));
    REQUIRE(run.wait_for("repair_succeeded", 30s));
    CHECK(lab.events("repair_started").size() == 1);
    CHECK(run.stop() == 0);
}

TEST_CASE("a pause saved while certheal is stopped holds the repair when it starts", "[operator][lab][pause]") {
    Lab lab;
    const auto paused = run_certheal(lab.args("pause --site intranet"), lab.nginx.dir());
    INFO(paused.out);
    REQUIRE(paused.exit_code == 0);
    CHECK(lab.saved_state()["pauses"][0]["site"] == "intranet");
    const auto shown = run_certheal(lab.args("status"), lab.nginx.dir());
    CHECK_THAT(shown.out, Catch::Contains("paused:       site intranet until certheal unpause"));

    lab.nginx.desync();
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(run.wait_for("symptom_confirmed", 20s));
    REQUIRE(eventually([&] { return !lab.events("repair_skipped").empty(); }, 10s));
    CHECK(lab.events("repair_skipped")[0].value("reason", "") == "paused");
    CHECK(lab.events("repair_started").empty());
    CHECK(run.stop() == 0);
}
