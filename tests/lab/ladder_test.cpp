// The repair ladder end to end: the real certheal binary (`run --console`) against the nginx lab
// whose client CA was swapped. Stage 1 re-syncs the bundle nginx reads and reloads nginx (no
// downtime); stage 2 stands for the restart: it leaves a mark when it runs. Real processes and
// real time, bounded waits on the journal.
//
// The symptom classes cover both ways nginx can answer the desync: the lab's IIS-like 403.7 page
// and nginx's own 400 page ("The SSL certificate error"), which certheal classifies as
// client_cert_rejected or, without its nginx rules, as unexpected_status.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/certheal_run.hpp"
#include "support/files.hpp"
#include "support/lab.hpp"

using namespace certheal::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string nginx_binary() {
    for (const char* candidate : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"}) {
        if (::access(candidate, X_OK) == 0) return candidate;
    }
    FAIL("no nginx binary in /usr/sbin, /usr/local/sbin or /usr/local/nginx/sbin");
    return {};
}

struct Ladder {
    json trust_steps;     // stage 1: what re-syncs the trust, then the reload
    std::string marker;   // stage 2 touches it: proof that the restart stage ran
};

std::string write_config(const NginxLab& lab, const std::filesystem::path& work, const Ladder& ladder) {
    const json config = {
        {"service", {{"state_dir", (work / "state").string()}}},
        {"defaults",
         {{"interval", "300ms"},
          {"timeout", "3s"},
          {"failure_threshold", 2},
          {"success_threshold", 1},
          {"symptoms", {"client_cert_rejected", "unexpected_status"}}}},
        {"sites",
         {{{"name", "portal"},
           {"url", lab.value("url")},
           {"connect_to", "127.0.0.1"},
           {"tls",
            {{"ca_file", lab.value("server_ca")},
             {"client_cert", {{"cert_file", lab.value("client_cert")}, {"key_file", lab.value("client_key")}}}}}}}},
        {"remediation",
         {{"cooldown", "10m"},
          {"max_attempts", 1},
          {"stages",
           {{{"name", "trust and reload"}, {"steps", ladder.trust_steps}, {"verify", {{"attempts", 10}, {"delay", "300ms"}}}},
            {{"name", "restart nginx"},
             {"when", {{"class", {"client_cert_rejected", "unexpected_status"}}}},
             {"steps", {{{"run", {"/usr/bin/touch", ladder.marker}}}, {{"run", {lab_script().string(), "resync", lab.dir().string()}}}}},
             {"verify", {{"attempts", 10}, {"delay", "300ms"}}}}}}}}};
    const auto path = work / "certheal.json";
    std::ofstream(path) << config.dump(2);
    ::chmod(path.c_str(), 0644);
    return path.string();
}

json reload_step(const NginxLab& lab) {
    return {{"run", {nginx_binary(), "-s", "reload", "-c", lab.value("nginx_conf"), "-p", lab.dir().string() + "/"}}};
}

std::vector<std::string> stage_story(const CerthealRun& run) {
    std::vector<std::string> story;
    for (const auto& record : run.journal()) {
        const std::string event = record.value("event", "");
        if (event.rfind("stage_", 0) == 0) story.push_back(event + " " + record.value("stage", ""));
    }
    return story;
}

const json* last_record(const std::vector<json>& journal, const std::string& event) {
    const json* found = nullptr;
    for (const auto& record : journal) {
        if (record.value("event", "") == event) found = &record;
    }
    return found;
}

}  // namespace

TEST_CASE("a ladder heals a desynchronised nginx at its first stage: bundle re-synced and reloaded, no restart",
          "[lab][ladder][e2e]") {
    NginxLab lab;
    lab.desync();
    TempDir work;
    std::filesystem::permissions(work.path(), std::filesystem::perms(0755));
    const std::string master_before = read_text(lab.value("nginx_pid"));
    const auto marker = work.path() / "restart-stage-ran";
    const json trust = {{{"trust_ca", {{"certificate", lab.value("good_ca")}, {"bundle", lab.value("trusted_client_ca")}}}},
                        reload_step(lab)};
    const auto config = write_config(lab, work.path(), {trust, marker.string()});

    CerthealRun run(config, (work.path() / "state").string());
    REQUIRE(run.wait_for("site_recovered", 60s));
    CHECK(run.stop() == 0);

    const auto journal = run.journal();
    INFO("stages: " << json(stage_story(run)).dump() << "\nstderr: " << read_text(run.stderr_path()));
    CHECK(run.count("repair_started") == 1);
    CHECK(run.count("repair_succeeded") == 1);
    CHECK(stage_story(run) == std::vector<std::string>{"stage_started trust and reload", "stage_succeeded trust and reload"});
    const json* succeeded = last_record(journal, "repair_succeeded");
    REQUIRE(succeeded != nullptr);
    CHECK(succeeded->value("stage", "") == "trust and reload");
    CHECK(succeeded->value("stages_run", 0) == 1);
    CHECK_FALSE(std::filesystem::exists(marker));                      // the restart stage never ran
    CHECK(read_text(lab.value("nginx_pid")) == master_before);         // the same nginx master: reloaded, not restarted
    CHECK_THAT(read_text(lab.value("trusted_client_ca")), Catch::Contains(read_text(lab.value("good_ca"))));

    // certheal history tells the incident's stages in order.
    const auto history = run_command({CERTHEAL_BINARY, "history", "--config", config});
    INFO(history.output);
    const auto started = history.output.find("stage_started");
    const auto healed = history.output.find("stage_succeeded");
    const auto repaired = history.output.find("repair_succeeded");
    CHECK(started != std::string::npos);
    CHECK(started < healed);
    CHECK(healed < repaired);
    CHECK_THAT(history.output, Catch::Contains("stage 1 of 2 (trust and reload)"));
}

TEST_CASE("a ladder whose first stage cannot heal goes on to the next stage, which does", "[lab][ladder][e2e]") {
    NginxLab lab;
    lab.desync();
    TempDir work;
    std::filesystem::permissions(work.path(), std::filesystem::perms(0755));
    const auto marker = work.path() / "restart-stage-ran";
    // The wrong CA: nginx already trusts it, so the bundle stays as it is and the reload cures nothing.
    const json trust = {{{"trust_ca", {{"certificate", lab.value("other_ca")}, {"bundle", lab.value("trusted_client_ca")}}}},
                        reload_step(lab)};
    const auto config = write_config(lab, work.path(), {trust, marker.string()});

    CerthealRun run(config, (work.path() / "state").string());
    REQUIRE(run.wait_for("repair_succeeded", 90s));
    CHECK(run.stop() == 0);

    INFO("stages: " << json(stage_story(run)).dump() << "\nstderr: " << read_text(run.stderr_path()));
    CHECK(stage_story(run) == std::vector<std::string>{"stage_started trust and reload", "stage_failed trust and reload",
                                                       "stage_started restart nginx", "stage_succeeded restart nginx"});
    const auto journal = run.journal();
    const json* failed = last_record(journal, "stage_failed");
    REQUIRE(failed != nullptr);
    CHECK(failed->value("not_healed", false));
    CHECK(failed->value("next_stage", "") == "restart nginx");
    const json* succeeded = last_record(journal, "repair_succeeded");
    REQUIRE(succeeded != nullptr);
    CHECK(succeeded->value("stage", "") == "restart nginx");
    CHECK(succeeded->value("stages_run", 0) == 2);
    CHECK(std::filesystem::exists(marker));
}

TEST_CASE("certheal repair --dry-run prints the ladder: what would run, what would be skipped, and changes nothing",
          "[lab][ladder]") {
    NginxLab lab;
    lab.desync();
    TempDir work;
    std::filesystem::permissions(work.path(), std::filesystem::perms(0755));
    const auto marker = work.path() / "restart-stage-ran";
    const json trust = {{{"trust_ca", {{"certificate", lab.value("good_ca")}, {"bundle", lab.value("trusted_client_ca")}}}},
                        reload_step(lab)};
    const auto config_path = write_config(lab, work.path(), {trust, marker.string()});
    // The restart stage only for a refused connection: this incident's class does not reach it.
    json config = json::parse(read_text(config_path));
    config["remediation"]["stages"][1]["when"] = {{"class", {"connect_failed"}}};
    std::ofstream(config_path) << config.dump(2);
    const std::string bundle_before = read_text(lab.value("trusted_client_ca"));

    const auto dry = run_command({CERTHEAL_BINARY, "repair", "--dry-run", "--config", config_path});
    INFO(dry.output);
    CHECK(dry.exit_code == 0);
    CHECK_THAT(dry.output, Catch::Contains("Repair ladder for portal (class "));
    CHECK_THAT(dry.output, Catch::Contains("stage 1 of 2 (trust and reload): would run: trust_ca "));
    CHECK_THAT(dry.output, Catch::Contains("stage 2 of 2 (restart nginx): would be skipped, because its when lists the "
                                           "class connect_failed, and the incident's class is "));
    CHECK_THAT(dry.output, Catch::Contains("Would run: trust_ca"));
    CHECK(read_text(lab.value("trusted_client_ca")) == bundle_before);
    CHECK_FALSE(std::filesystem::exists(marker));
}
