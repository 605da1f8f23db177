#include <catch2/catch.hpp>

#include <sstream>

#include "core/base/time_format.hpp"
#include "service/status_view.hpp"

using namespace certheal;
using namespace std::chrono_literals;

namespace {

const TimePoint kNow = *parse_time_utc("2026-11-24T22:31:05.000Z");

std::string at(Duration offset) { return format_time_utc(kNow + offset); }

nlohmann::json site(const std::string& name, const std::string& probe_class) {
    return {{"name", name},
            {"class", probe_class},
            {"since", at(-3h - 12min)},
            {"symptom_confirmed", false},
            {"incident", nullptr},
            {"last_probe", at(-5s)},
            {"next_probe", at(25s)},
            {"client_cert_not_after", at(24h * 41 + 1h)},
            {"server_cert_not_after", at(24h * 300)},
            {"probes", 10},
            {"failed_probes", 0},
            {"evidence", nullptr}};
}

// The report command_status assembles, with the service running as pid 4242.
nlohmann::json report(nlohmann::json sites, nlohmann::json remediation = {{"enabled", true}, {"dry_run", false}, {"mode", "enabled"}}) {
    return {{"state_dir", "/var/lib/certheal"},
            {"config_valid", true},
            {"service", {{"running", true}, {"pid", 4242}, {"found_by", "/var/lib/certheal/certheal.pid"}}},
            {"status",
             {{"version", 1},
              {"generated_at", at(-1s)},
              {"pid", 4242},
              {"remediation", remediation},
              {"policy",
               {{"repair_running", false},
                {"repair_incident", nullptr},
                {"circuit_open", false},
                {"circuit_opened_at", nullptr},
                {"circuit_closes_at", nullptr},
                {"attempts_in_window", 0},
                {"max_attempts", 3},
                {"attempts_left", 3},
                {"cooldown_until", nullptr},
                {"last_repair", nullptr}}},
              {"sites", std::move(sites)}}},
            {"state", nullptr},
            {"configured_remediation", nullptr},
            {"host_warnings", nlohmann::json::array()},
            {"problems", nlohmann::json::array()}};
}

std::size_t widest_line(const std::string& text) {
    std::istringstream lines(text);
    std::size_t widest = 0;
    for (std::string line; std::getline(lines, line);) widest = std::max(widest, line.size());
    return widest;
}

}  // namespace

TEST_CASE("status says healthy only when the service runs and every site is healthy", "[status]") {
    auto healthy = report({site("intranet", "healthy"), site("extranet", "healthy")});
    auto verdict = cli::judge_status(healthy);
    CHECK(verdict.health == cli::Health::healthy);
    CHECK(cli::exit_code_of(verdict) == 0);

    auto one_down = report({site("intranet", "healthy"), site("extranet", "client_cert_rejected")});
    verdict = cli::judge_status(one_down);
    CHECK(verdict.health == cli::Health::unhealthy);
    CHECK(verdict.unhealthy_sites == std::vector<std::string>{"extranet"});
    CHECK(cli::exit_code_of(verdict) == 1);

    auto not_probed = report({site("intranet", "healthy"), site("extranet", "healthy")});
    not_probed["status"]["sites"][1]["class"] = nullptr;
    CHECK(cli::exit_code_of(cli::judge_status(not_probed)) == 3);

    auto stopped = healthy;
    stopped["service"] = {{"running", false}};
    verdict = cli::judge_status(stopped);
    CHECK(cli::exit_code_of(verdict) == 3);
    CHECK_THAT(verdict.reason, Catch::Contains("does not run"));

    auto earlier_run = healthy;
    earlier_run["status"]["pid"] = 17;
    CHECK(cli::exit_code_of(cli::judge_status(earlier_run)) == 3);

    auto no_status = healthy;
    no_status["status"] = nullptr;
    CHECK(cli::exit_code_of(cli::judge_status(no_status)) == 3);
}

TEST_CASE("status fits 80 columns by default and shows every column with --wide", "[status]") {
    auto long_names = report({site("intranet", "healthy"),
                              site("a-site-with-a-name-far-too-long-for-the-narrow-table.example.com", "client_cert_rejected")});
    long_names["status"]["policy"]["circuit_open"] = true;
    long_names["status"]["policy"]["circuit_opened_at"] = at(-10min);
    long_names["status"]["policy"]["circuit_closes_at"] = at(6h - 10min);
    long_names["status"]["policy"]["last_repair"] = {
        {"incident", "20261124T223105-1"}, {"ended_at", at(-11min)}, {"succeeded", false}, {"manual", false}};
    long_names["status"]["sites"][1]["incident"] = "20261124T223105-1";
    const auto verdict = cli::judge_status(long_names);
    const auto narrow = cli::render_status(long_names, verdict, kNow, /*wide=*/false);
    INFO(narrow);
    CHECK(widest_line(narrow) <= 80);
    CHECK_THAT(narrow, Catch::Contains("SITE") && Catch::Contains("CLASS") && Catch::Contains("EXPIRES"));
    CHECK_THAT(narrow, Catch::Contains("intranet") && Catch::Contains("3h12m") && Catch::Contains("25s") &&
                           Catch::Contains("41d"));
    CHECK_THAT(narrow, Catch::Contains("1 of 2 sites not healthy:\n              a-site-with-a-name"));
    CHECK_THAT(narrow, Catch::Contains("circuit breaker OPEN since 2026-11-24T22:21:05.000Z"));
    CHECK_THAT(narrow, Catch::Contains("certheal resume"));
    CHECK_THAT(narrow, Catch::Contains("certheal history --incident 20261124T223105-1"));
    CHECK_THAT(narrow, Catch::Contains("certheal status --wide shows them whole"));

    const auto wide = cli::render_status(long_names, verdict, kNow, /*wide=*/true);
    CHECK(widest_line(wide) > 80);
    CHECK_THAT(wide, Catch::Contains("a-site-with-a-name-far-too-long-for-the-narrow-table.example.com"));
    CHECK_THAT(wide, Catch::Contains("NEXT PROBE") && Catch::Contains("CLIENT CERT UNTIL") &&
                         Catch::Contains("SERVER CERT UNTIL") && Catch::Contains("INCIDENT"));
}

TEST_CASE("status says plainly when certheal does not repair", "[status]") {
    const auto text_for = [](nlohmann::json remediation) {
        const auto document = report({site("intranet", "healthy")}, std::move(remediation));
        return cli::render_status(document, cli::judge_status(document), kNow, false);
    };
    CHECK_THAT(text_for({{"enabled", true}, {"dry_run", false}, {"mode", "enabled"}}),
               Catch::Contains("remediation:  enabled"));
    CHECK_THAT(text_for({{"enabled", true}, {"dry_run", true}, {"mode", "dry_run"}}),
               Catch::Contains("remediation:  DRY RUN"));
    CHECK_THAT(text_for({{"enabled", false}, {"dry_run", false}, {"mode", "disabled"}}),
               Catch::Contains("remediation:  disabled"));
    // A status.json from before "mode": the two flags say it.
    CHECK_THAT(text_for({{"enabled", true}, {"dry_run", true}}), Catch::Contains("remediation:  DRY RUN"));
    // The place `certheal pause` fills.
    CHECK_THAT(text_for({{"enabled", true}, {"dry_run", false}, {"mode", "paused"}, {"paused_until", at(2h)}}),
               Catch::Contains("remediation:  PAUSED until 2026-11-25T00:31:05.000Z"));
    CHECK_THAT(text_for({{"enabled", true},
                         {"dry_run", true},
                         {"mode", "paused"},
                         {"paused_until", nullptr},
                         {"paused_by", "alice"},
                         {"paused_reason", "patching"}}),
               Catch::Contains("PAUSED until certheal unpause by alice (patching)") && Catch::Contains("DRY RUN"));
}

TEST_CASE("status names each paused site and, with no service, the pauses saved for the next start",
          "[status][pause]") {
    auto portal = site("portal", "client_cert_rejected");
    portal["pause"] = {{"since", at(-1h)}, {"until", at(1h)}, {"by", "alice"}, {"reason", "new certificate"}};
    auto document = report({site("intranet", "healthy"), portal});
    auto text = cli::render_status(document, cli::judge_status(document), kNow, false);
    CHECK_THAT(text, Catch::Contains("paused:       site portal until 2026-11-24T23:31:05.000Z by alice (new"));
    CHECK(widest_line(text) <= 80);

    document["service"] = {{"running", false}};
    document["status"] = nullptr;
    document["state"] = {{"version", 2},
                         {"attempts", nlohmann::json::array()},
                         {"pauses",
                          {{{"site", nullptr}, {"paused", true}, {"at", at(-1h)}, {"until", at(2h)}, {"by", "bob"}},
                           {{"site", "portal"}, {"paused", true}, {"at", at(-3h)}, {"until", at(-1h)}, {"by", "bob"}}}}};
    text = cli::render_status(document, cli::judge_status(document), kNow, false);
    CHECK_THAT(text, Catch::Contains("paused:       the host until 2026-11-25T00:31:05.000Z by bob (saved"));
    CHECK_THAT(text, !Catch::Contains("site portal"));  // that one has ended
}

TEST_CASE("status without a running service says what it last saw and that it cannot tell", "[status]") {
    auto stopped = report({site("intranet", "healthy")});
    stopped["service"] = {{"running", false}};
    const auto text = cli::render_status(stopped, cli::judge_status(stopped), kNow, false);
    CHECK_THAT(text, Catch::Contains("certheal:     not running"));
    CHECK_THAT(text, Catch::Contains("cannot tell: certheal does not run"));
    CHECK_THAT(text, Catch::Contains("when it last ran"));
}

TEST_CASE("ages read as people say them", "[status]") {
    CHECK(cli::format_age(45s) == "45s");
    CHECK(cli::format_age(12min + 5s) == "12m");
    CHECK(cli::format_age(3h + 12min) == "3h12m");
    CHECK(cli::format_age(3h) == "3h");
    CHECK(cli::format_age(24h * 5 + 3h) == "5d3h");
    CHECK(cli::format_age(-5s) == "0s");
}
