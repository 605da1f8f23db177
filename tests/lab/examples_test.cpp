// The example configurations of config/examples against the lab: each passes check-config once
// its paths point at lab files, and the nginx one, as shipped (its symptoms, classes and steps),
// repairs a desynchronised stock nginx end to end.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "support/certheal_run.hpp"
#include "support/files.hpp"
#include "support/lab.hpp"
#include "support/lab_servers.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json read_example(const std::string& name) {
    std::ifstream in(std::filesystem::path(CERTHEAL_SOURCE_DIR) / "config" / "examples" / name);
    return json::parse(in);
}

// The example with its files moved into the lab: state, CA file, client certificate, the CA
// that trust_ca adds and the bundle it adds it to. Everything else stays as shipped.
json with_lab_files(json config, const LabFiles& lab, const std::filesystem::path& work, const std::filesystem::path& bundle) {
    config["service"]["state_dir"] = (work / "state").string();
    config["service"].erase("status_listen");  // a fixed port: parallel tests would collide
    auto& tls = config["defaults"]["tls"];
    tls["ca_file"] = lab.value("server_ca");
    tls["client_cert"] = {{"cert_file", lab.value("client_cert")}, {"key_file", lab.value("client_key")}};
    const auto point_at_lab = [&](json& steps) {
        for (auto& step : steps) {
            if (step.contains("trust_ca")) {
                step["trust_ca"]["certificate"] = lab.value("good_ca");
                step["trust_ca"]["bundle"] = bundle.string();
            }
        }
    };
    auto& remediation = config["remediation"];
    if (remediation.contains("steps")) point_at_lab(remediation["steps"]);
    if (remediation.contains("stages")) {
        for (auto& stage : remediation["stages"]) point_at_lab(stage["steps"]);
    }
    return config;
}

std::filesystem::path write_config(const std::filesystem::path& work, const json& config) {
    const auto path = work / "certheal.json";
    std::ofstream(path) << config.dump(2);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                           std::filesystem::perms::group_read | std::filesystem::perms::others_read);
    return path;
}

}  // namespace

TEST_CASE("each Linux example configuration passes certheal check-config with its files in the lab", "[lab][examples]") {
    const LabPki pki;
    for (const std::string name : {"linux-nginx.json", "apache.json", "haproxy.json"}) {
        INFO("example: " << name);
        TempDir work;
        const auto bundle = work.write("client-ca.pem", read_text(pki.file("other_ca")));
        const auto config = write_config(work.path(), with_lab_files(read_example(name), pki, work.path(), bundle));
        const auto checked = run_command({CERTHEAL_BINARY, "check-config", "--config", config.string()});
        INFO(checked.output);
        CHECK(checked.exit_code == 0);
    }
}

TEST_CASE("the nginx example as shipped repairs a stock nginx whose client CA was swapped",
          "[lab][examples][e2e]") {
    NginxLab lab;
    lab.desync();
    TempDir work;
    std::filesystem::permissions(work.path(), std::filesystem::perms(0755));
    auto config = with_lab_files(read_example("linux-nginx.json"), lab, work.path(), lab.file("trusted_client_ca"));
    // The lab's nginx, its address and the test's pace; the symptoms, classes and steps are the example's.
    config["defaults"]["interval"] = "300ms";
    config["sites"][0]["url"] = lab.value("url");
    config["remediation"]["dry_run"] = false;
    // The ladder's first stage re-syncs and reloads; it heals, so the restart stage never runs.
    auto& first_stage = config["remediation"]["stages"][0];
    auto& steps = first_stage["steps"];
    REQUIRE(steps.size() == 3);
    REQUIRE(steps[1]["run"] == json::array({"/usr/sbin/nginx", "-t"}));
    REQUIRE(steps[2]["run"] == json::array({"/usr/sbin/nginx", "-s", "reload"}));
    const json lab_nginx = {"-c", lab.value("nginx_conf"), "-p", lab.dir().string() + "/"};
    for (const int at : {1, 2}) steps[at]["run"].insert(steps[at]["run"].end(), lab_nginx.begin(), lab_nginx.end());
    first_stage["verify"]["delay"] = "300ms";
    const auto path = write_config(work.path(), config);

    CerthealRun run(path.string(), (work.path() / "state").string());
    REQUIRE(run.wait_for("site_recovered", 60s));
    CHECK(run.stop() == 0);

    std::vector<std::string> names;
    for (const auto& record : run.journal()) {
        names.push_back(record.value("event", ""));
        if (record.value("event", "") == "symptom_confirmed") {
            CHECK(record.value("class", "") == "client_cert_rejected");
            CHECK(record.value("status", 0) == 400);
        }
    }
    INFO("journal: " << json(names).dump() << "\nstderr: " << read_text(run.stderr_path()));
    CHECK(run.count("repair_succeeded") == 1);
    CHECK(run.count("repair_failed") == 0);
    CHECK(run.count("stage_succeeded") == 1);
    // The bundle nginx reads now holds the good CA again (after the other one).
    CHECK_THAT(read_text(lab.file("trusted_client_ca")), Catch::Contains(read_text(lab.file("good_ca"))));
    const auto healed = curl_answer(lab, lab.port(), ClientCase::good);
    CHECK(healed.status == 200);
}
