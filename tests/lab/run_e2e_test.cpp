// End to end: the real certheal binary (`run --console`) against the nginx lab on loopback.
// Real processes and real time: this is a lab test, so it waits (bounded) for the journal.

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/record/journal.hpp"
#include "support/certheal_run.hpp"
#include "support/lab.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;

// The nginx lab of tests/lab/lab.sh, up for the life of the test: tests/support/lab.hpp.
using certheal::test::NginxLab;

std::string lab_dir(const NginxLab& lab) { return lab.dir().string(); }

// `certheal run --console` as a child process: tests/support/certheal_run.hpp.
using certheal::test::CerthealRun;

std::string write_config(const NginxLab& lab, const std::string& repair_program, const std::string& extra_args,
                         const std::string& cooldown, int max_attempts, std::uint16_t status_port = 0) {
    const std::string status_listen =
        status_port == 0 ? "" : R"(, "status_listen": "127.0.0.1:)" + std::to_string(status_port) + "\"";
    std::ostringstream json;
    json << R"({
  "service": { "state_dir": ")" << lab_dir(lab) << R"(/state")" << status_listen << R"( },
  "defaults": { "interval": "300ms", "timeout": "3s", "failure_threshold": 2, "success_threshold": 1 },
  "sites": [ {
      "name": "intranet",
      "url": ")" << lab.value("url") << R"(",
      "connect_to": "127.0.0.1",
      "tls": { "ca_file": ")" << lab.value("server_ca") << R"(",
               "client_cert": { "cert_file": ")" << lab.value("client_cert") << R"(", "key_file": ")"
         << lab.value("client_key") << R"(" } } } ],
  "remediation": {
    "enabled": true, "cooldown": ")" << cooldown << R"(", "max_attempts": )" << max_attempts << R"(,
    "attempt_window": "1h", "circuit_reset_after": "6h",
    "steps": [
      { "run": [")" << repair_program << "\"" << extra_args << R"(], "timeout": "30s" },
      { "verify": { "attempts": 3, "delay": "200ms" }, "timeout": "30s" } ] } })";
    const std::string path = lab_dir(lab) + "/certheal.json";
    std::ofstream(path) << json.str();
    ::chmod(path.c_str(), 0644);
    return path;
}

std::vector<std::string> event_names(const std::vector<nlohmann::json>& journal) {
    std::vector<std::string> names;
    for (const auto& record : journal) names.push_back(record.value("event", ""));
    return names;
}

}  // namespace

TEST_CASE("certheal run detects nginx's 400 SSL certificate error, repairs it once by re-syncing the CA and verifies the site",
          "[e2e][lab]") {
    NginxLab lab;
    lab.desync();
    const auto config = write_config(lab, certheal::test::lab_script().string(), ", \"resync\", \"" + lab_dir(lab) + "\"", "1m", 3);
    CerthealRun run(config, lab_dir(lab) + "/state");
    REQUIRE(run.wait_for("site_recovered", 30s));
    CHECK(run.stop() == 0);

    const auto journal = run.journal();
    const auto names = event_names(journal);
    INFO("journal: " << nlohmann::json(names).dump());
    CHECK(run.count("symptom_confirmed") == 1);
    CHECK(run.count("repair_started") == 1);
    CHECK(run.count("repair_succeeded") == 1);
    CHECK(run.count("repair_failed") == 0);
    CHECK(names.front() == "service_started");
    CHECK(names.back() == "service_stopped");

    // One incident id follows the story; the symptom carries the probe evidence.
    std::string incident;
    for (const auto& record : journal) {
        if (record.value("event", "") == "symptom_confirmed") {
            incident = record.value("incident", "");
            CHECK(record.value("class", "") == "client_cert_rejected");
            CHECK(record.value("status", 0) == 400);
            CHECK(record.value("client_issuer_listed", true) == false);
            CHECK(record.at("iis_substatus").is_null());
        }
    }
    REQUIRE_FALSE(incident.empty());
    for (const auto& record : journal) {
        const auto event = record.value("event", "");
        if (event == "repair_started" || event == "repair_succeeded" || event == "step_succeeded") {
            CHECK(record.value("incident", "") == incident);
        }
    }
}

TEST_CASE("certheal run stops after max_attempts repairs that do not help and opens the circuit", "[e2e][lab]") {
    NginxLab lab;
    lab.desync();
    const auto status_port = certheal::test::closed_port();
    const auto config = write_config(lab, "/bin/true", "", "300ms", 2, status_port);
    CerthealRun run(config, lab_dir(lab) + "/state");
    REQUIRE(run.wait_for("circuit_opened", 40s));
    // Enough probes of the still broken site for more attempts (2 failures, 300 ms cooldown), were
    // the circuit not open.
    REQUIRE(certheal::test::wait_for_probe_rounds(status_port, "intranet", 6, 20s));
    CHECK(run.stop() == 0);

    const auto names = event_names(run.journal());
    INFO("journal: " << nlohmann::json(names).dump());
    CHECK(run.count("repair_started") == 2);
    CHECK(run.count("repair_failed") == 2);
    CHECK(run.count("circuit_opened") == 1);
    const auto opened = std::find(names.begin(), names.end(), "circuit_opened");
    const auto last_failure = std::find(names.rbegin(), names.rend(), "repair_failed");
    CHECK(std::distance(names.begin(), opened) > std::distance(last_failure, names.rend()) - 1);
    CHECK(names.back() == "service_stopped");
}

TEST_CASE("certheal run refuses to reload a configuration that others may change and keeps the last good one",
          "[e2e][lab]") {
    NginxLab lab;
    const auto config = write_config(lab, "/bin/true", "", "1m", 2);
    CerthealRun run(config, lab_dir(lab) + "/state");
    REQUIRE(run.wait_for("service_started", 20s));

    // A changed config that would run another program, and that everyone may now write.
    const auto marker = lab_dir(lab) + "/ran";
    const auto changed = write_config(lab, "/usr/bin/touch", ", \"" + marker + "\"", "1m", 2);
    REQUIRE(changed == config);
    ::chmod(config.c_str(), 0666);
    ::kill(run.pid, SIGHUP);
    REQUIRE(run.wait_for("config_invalid", 20s));
    lab.desync();  // would make certheal repair with whatever config is in force
    REQUIRE(run.wait_for("repair_started", 30s));
    // The repair ran its steps (the run step, then a verify that fails: the CA is not re-synced).
    REQUIRE(certheal::test::eventually(
        [&] { return run.count("repair_failed") + run.count("repair_succeeded") > 0; }, 30s));
    CHECK(run.stop() == 0);

    CHECK(run.count("config_reloaded") == 0);
    CHECK_FALSE(std::filesystem::exists(marker));  // the new step never ran
    for (const auto& record : run.journal()) {
        if (record.value("event", "") == "config_invalid") {
            CHECK(record.value("message", "").find("refused to reload") != std::string::npos);
            CHECK(record.value("message", "").find("every user") != std::string::npos);
        }
    }
}
