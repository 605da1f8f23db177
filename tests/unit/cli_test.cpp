#include <catch2/catch.hpp>

#include <sstream>

#include "config/config.hpp"
#include "service/cli.hpp"
#include "service/platform.hpp"
#include "service/start_checks.hpp"
#include "support/pki.hpp"

using namespace certheal;

namespace {
cli::ParseOutcome parse(std::vector<std::string> args) { return cli::parse_arguments(args); }
}  // namespace

TEST_CASE("the interface's commands and options parse", "[cli]") {
    auto probe = parse({"probe", "--config", "/etc/x.json", "--site", "intranet", "--json"});
    REQUIRE(probe.options);
    CHECK(probe.options->command == "probe");
    CHECK(probe.options->config == std::filesystem::path("/etc/x.json"));
    CHECK(probe.options->site == "intranet");
    CHECK(probe.options->json);

    auto history = parse({"history", "--since", "24h"});
    REQUIRE(history.options);
    CHECK(history.options->since == "24h");

    auto run = parse({"run", "--console"});
    REQUIRE(run.options);
    CHECK(run.options->console);

    CHECK(parse({"--version"}).options->version);
    CHECK(parse({"--help"}).options->help);
    auto command_help = parse({"probe", "--help"});
    REQUIRE(command_help.options);
    CHECK(command_help.options->help);
    CHECK(command_help.options->command == "probe");
}

TEST_CASE("bad usage is refused with a sentence that names the problem", "[cli]") {
    CHECK_THAT(parse({}).error, Catch::Contains("a command is required"));
    CHECK_THAT(parse({"probe", "intranet"}).error, Catch::Contains("unexpected argument 'intranet'") &&
                                                       Catch::Contains("--site intranet"));
    CHECK_THAT(parse({"status", "--json=yes"}).error, Catch::Contains("--json takes no value"));
    CHECK_THAT(parse({"probe", "--site", "--json"}).error, Catch::Contains("--site needs a value (NAME)"));
    CHECK_THAT(parse({"frobnicate"}).error, Catch::Contains("unknown command 'frobnicate'"));
    CHECK_THAT(parse({"uninstall", "--config", "x"}).error, Catch::Contains("unknown option '--config'"));
    CHECK_THAT(parse({"probe", "--site"}).error, Catch::Contains("--site needs a value"));
    CHECK_THAT(parse({"check-config", "--json"}).error, Catch::Contains("unknown option '--json'"));
}

TEST_CASE("check-config exits 2 for an invalid config and 0 for a valid one", "[cli]") {
    test::TempDir dir;
    const auto bad = dir.write("bad.json", R"({"sites": [{"name": "a", "url": "http://a"}], "bogus": 1})");
    cli::Options options;
    options.command = "check-config";
    options.config = bad;
    CHECK(cli::dispatch(options) == cli::usage);

    const auto good = dir.write("good.json", R"({"sites": [{"name": "a", "url": "https://a.example/"}],
        "remediation": {"enabled": false}})");
    options.config = good;
    CHECK(cli::dispatch(options) == cli::ok);
}

TEST_CASE("history rejects a --since that is neither a duration nor a time", "[cli]") {
    for (const char* since : {"yesterday", "7", "-1h", "2026-12-01T00:00", "2026-13-01", "1d1d", "99999999d"}) {
        INFO(since);
        const auto parsed = parse({"history", "--since", since});
        CHECK_FALSE(parsed.options);
        CHECK_THAT(parsed.error, Catch::Contains("--since wants a duration back"));
        CHECK_THAT(parsed.usage, Catch::StartsWith("usage: certheal history [--config FILE] [--since WHEN]"));
    }
}

TEST_CASE("history takes --since in days and as an RFC 3339 time, --site, --incident and --follow", "[cli]") {
    const auto parsed = parse({"history", "--since", "7d", "--site", "intranet", "--incident", "20261124T223105-1",
                               "--follow", "--json"});
    REQUIRE(parsed.options);
    CHECK(parsed.options->since == "7d");
    CHECK(parsed.options->site == "intranet");
    CHECK(parsed.options->incident == "20261124T223105-1");
    CHECK(parsed.options->follow);
    CHECK(parsed.options->json);
    CHECK(parse({"history", "--since=2026-12-01T00:00Z"}).options->since == "2026-12-01T00:00Z");

    using namespace std::chrono;
    const TimePoint now{sys_days{year{2026} / 12 / 10}.time_since_epoch() + hours{12}};
    CHECK(cli::parse_since("7d", now) == now - hours(24 * 7));
    CHECK(cli::parse_since("1d12h", now) == now - hours(36));
    CHECK(cli::parse_since("90m", now) == now - minutes(90));
    CHECK(cli::parse_since("2026-12-01T00:00Z", now) == TimePoint{sys_days{year{2026} / 12 / 1}.time_since_epoch()});
    CHECK(cli::parse_since("2026-12-01", now) == TimePoint{sys_days{year{2026} / 12 / 1}.time_since_epoch()});
    CHECK(cli::parse_since("2026-12-01T08:30+01:00", now) ==
          TimePoint{sys_days{year{2026} / 12 / 1}.time_since_epoch() + hours{7} + minutes{30}});
    CHECK(cli::parse_since("2026-12-01 08:30:15.250-02:00", now) ==
          TimePoint{sys_days{year{2026} / 12 / 1}.time_since_epoch() + hours{10} + minutes{30} + seconds{15} +
                    milliseconds{250}});
    CHECK_FALSE(cli::parse_since("2026-12-01T08:30", now));        // a local time: which zone?
    CHECK_FALSE(cli::parse_since("2026-12-01T08:30+0100", now));   // RFC 3339 offsets have a colon
    CHECK_FALSE(cli::parse_since("2026-12-01T25:00Z", now));
    CHECK_FALSE(cli::parse_since("2026-12-01T08:30Zjunk", now));
}

TEST_CASE("a usage error prints the command's own usage, not the whole help", "[cli]") {
    const auto parsed = parse({"status", "--wid"});
    CHECK_FALSE(parsed.options);
    CHECK_THAT(parsed.usage, Catch::StartsWith("usage: certheal status [--config FILE] [--wide] [--json]\n"));
    CHECK_THAT(parsed.usage, Catch::Contains("certheal status --help"));
    CHECK_THAT(parsed.usage, !Catch::Contains("check-config"));
    CHECK_THAT(parse({"bogus"}).usage, Catch::Contains("commands: check-config, probe"));
}

TEST_CASE("a mistyped command or option gets a did-you-mean", "[cli]") {
    CHECK_THAT(parse({"stauts"}).error, Catch::EndsWith("Did you mean 'status'?"));
    CHECK_THAT(parse({"hist"}).error, Catch::EndsWith("Did you mean 'history'?"));
    CHECK_THAT(parse({"chek-config"}).error, Catch::EndsWith("Did you mean 'check-config'?"));
    CHECK_THAT(parse({"status", "--jsno"}).error, Catch::EndsWith("Did you mean '--json'?"));
    CHECK_THAT(parse({"status", "-json"}).error, Catch::EndsWith("Did you mean '--json'?"));
    CHECK_THAT(parse({"history", "--sice", "1h"}).error, Catch::EndsWith("Did you mean '--since' or '--site'?"));
    CHECK_THAT(parse({"repair", "--dryrun"}).error, Catch::EndsWith("Did you mean '--dry-run'?"));
    CHECK_THAT(parse({"status", "--site", "a"}).error,
               Catch::Contains("--site is an option of probe, diagnose, history, repair, pause and unpause, not of status"));
    CHECK_THAT(parse({"frobnicate"}).error, !Catch::Contains("Did you mean"));
    // The installer's own option is never suggested.
    CHECK_THAT(parse({"install", "--msi"}).error, !Catch::Contains("msi-postinstall"));
    CHECK(parse({"install", "--msi-postinstall"}).options->msi_postinstall);
}

TEST_CASE("edit distance counts a swap of neighbours as one typo", "[cli]") {
    CHECK(cli::edit_distance("status", "status") == 0);
    CHECK(cli::edit_distance("stauts", "status") == 1);
    CHECK(cli::edit_distance("jsno", "json") == 1);
    CHECK(cli::edit_distance("", "abc") == 3);
    CHECK(cli::edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("every usage and help line fits 80 columns", "[cli]") {
    std::vector<std::string> texts{cli::usage_text()};
    for (const auto& command : cli::command_table()) texts.push_back(cli::command_help(std::string(command.name)));
    for (const auto& text : texts) {
        std::istringstream lines(text);
        for (std::string line; std::getline(lines, line);) {
            INFO(line);
            CHECK(line.size() <= 80);
        }
    }
}

// POSIX modes only: Windows keeps rights in ACLs, which std::filesystem::permissions does not set;
// tests/win/journal_follow_test.cpp holds the same check with a real ACL under Wine.
#ifndef _WIN32
TEST_CASE("check-config refuses a configuration that others can change, as run does", "[cli]") {
    test::TempDir dir;
    const auto config = dir.write("certheal.json", R"({"sites": [{"name": "a", "url": "https://a.example/"}],
        "remediation": {"enabled": false}})");
    std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                                 std::filesystem::perms::group_exec,
                                 std::filesystem::perm_options::replace);
    cli::Options options;
    options.command = "check-config";
    options.config = config;
    std::filesystem::permissions(config, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                             std::filesystem::perms::group_read | std::filesystem::perms::others_read,
                                 std::filesystem::perm_options::replace);
    CHECK(cli::dispatch(options) == cli::ok);
    // Mode 0666: anyone may decide what runs as root.
    std::filesystem::permissions(config, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                             std::filesystem::perms::group_read | std::filesystem::perms::group_write |
                                             std::filesystem::perms::others_read | std::filesystem::perms::others_write,
                                 std::filesystem::perm_options::replace);
    const auto problems = start_problems(config, *load_config(config, {}).config);
    REQUIRE(problems.size() == 1);
    CHECK_THAT(problems[0].sentence, Catch::Contains("mode 0666") && Catch::Contains("allow_insecure_config_acl"));
    CHECK(cli::dispatch(options) == cli::usage);
}
#endif  // !_WIN32

TEST_CASE("every command has its own help text", "[cli]") {
    for (const auto& command : cli::command_table()) {
        const std::string name(command.name);
        CHECK_THAT(cli::command_help(name), Catch::StartsWith("usage: certheal " + name));
        CHECK_FALSE(command.summary.empty());
        CHECK(parse({name, "--help"}).options->help);
    }
    CHECK_THAT(cli::command_help("history"), Catch::Contains("--follow ") && Catch::Contains("--incident ID"));
    CHECK_THAT(cli::command_help("install"), !Catch::Contains("msi-postinstall"));
}

TEST_CASE("diagnose takes a config, a site and --json, and elsewhere than Windows says it is a Windows diagnosis",
          "[cli][diagnosis]") {
    auto diagnose = parse({"diagnose", "--config", "/etc/x.json", "--site", "intranet", "--json"});
    REQUIRE(diagnose.options);
    CHECK(diagnose.options->command == "diagnose");
    CHECK(diagnose.options->site == "intranet");
    CHECK(diagnose.options->json);
    CHECK_THAT(parse({"diagnose", "--force"}).error, Catch::Contains("unknown option '--force'"));

    test::TempDir dir;
    cli::Options options;
    options.command = "diagnose";
    options.config = dir.write("good.json", R"({"sites": [{"name": "a", "url": "https://a.example/"}],
        "remediation": {"enabled": false}})");
    options.site = "nonesuch";
    CHECK(cli::dispatch(options) == cli::usage);  // no such site: bad usage, on every platform
    if (!platform::make_host_trust_inspector()->available()) {
        options.site.reset();
        CHECK(cli::dispatch(options) == cli::ok);  // this host has no Schannel: nothing to diagnose
    }
}

TEST_CASE("pause takes --for with days, --site and --reason, and unpause takes --site", "[cli][pause]") {
    using namespace std::chrono_literals;
    auto pause = parse({"pause", "--for", "1d12h", "--site", "intranet", "--reason", "web server upgrade"});
    REQUIRE(pause.options);
    CHECK(pause.options->command == "pause");
    CHECK(pause.options->pause_for == certheal::Duration(36h));
    CHECK(pause.options->site == "intranet");
    CHECK(pause.options->reason == "web server upgrade");

    auto until_unpaused = parse({"pause"});
    REQUIRE(until_unpaused.options);
    CHECK_FALSE(until_unpaused.options->pause_for);

    auto unpause = parse({"unpause", "--site", "intranet"});
    REQUIRE(unpause.options);
    CHECK(unpause.options->command == "unpause");

    CHECK_THAT(parse({"pause", "--for", "soon"}).error, Catch::Contains("--for wants how long"));
    CHECK_THAT(parse({"pause", "--for", "0s"}).error, Catch::Contains("--for wants how long"));
    CHECK_THAT(parse({"pause", "--reason", "two\nlines"}).error, Catch::Contains("one line"));
    CHECK_THAT(parse({"unpause", "--for", "1h"}).error, Catch::Contains("--for is an option of pause"));
    // The name the feature request used points to the command that does it.
    CHECK_THAT(parse({"resume-monitoring"}).error, Catch::Contains("Did you mean 'unpause'?"));
}
