#include <catch2/catch.hpp>

#include "service/cli.hpp"
#include "service/platform.hpp"
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

TEST_CASE("history rejects a --since that is not a duration", "[cli]") {
    cli::Options options;
    options.command = "history";
    options.since = "yesterday";
    CHECK(cli::dispatch(options) == cli::usage);
}

TEST_CASE("every command has its own help text", "[cli]") {
    for (const char* command : {"check-config", "probe", "diagnose", "run", "history", "status", "install", "uninstall"}) {
        CHECK_THAT(cli::command_help(command), Catch::StartsWith(std::string("usage: certheal ") + command));
    }
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
