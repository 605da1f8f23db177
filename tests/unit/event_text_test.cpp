// The sentences of events as people read them: short, free of the facts that are fields, one
// time format, and the circuit's events saying what to do.
#include <catch2/catch.hpp>

#include <regex>

#include "core/base/duration.hpp"
#include "core/base/time_format.hpp"
#include "core/policy/monitor.hpp"
#include "core/record/journal.hpp"
#include "support/fakes.hpp"
#include "support/monitor_harness.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kLongestSentence = 200;

// What a real incident looks like at its worst: a long site name, a long URL, an answer whose
// explanation runs to hundreds of characters, a program that prints a lot before it fails.
const std::string kLongName = "customer-portal-" + std::string(100, 'x') + "-frontend";
const std::string kLongUrl = "https://" + std::string(120, 'h') + ".corp.example.com:8443/" + std::string(200, 'p') +
                             "/health?probe=certheal";

ProbeResult long_evidence(const SiteConfig& site, ProbeClass probe_class) {
    ProbeResult result;
    result.site = site.name;
    result.url = site.url;
    result.probe_class = probe_class;
    if (probe_class == ProbeClass::healthy) {
        result.status = 200;
    } else if (probe_class == ProbeClass::client_cert_rejected) {
        result.status = 403;
        result.iis_substatus = 16;
        result.iis_win32_status = "0x800B010A CERT_E_CHAINING";
        result.tls_alert = "unknown_ca";
        result.client_ca_names = std::vector<std::string>(30, "CN=Contoso Issuing CA " + std::string(60, 'c') + ",DC=contoso,DC=com");
        result.error = site.name + " (" + site.url +
                       ") answered 403.16: the server did not accept the client certificate. " +
                       std::string(600, 'e') + ".";
    } else {
        result.status = 500;
        result.error = "The site answered 500 Internal Server Error: " + std::string(800, 'b') + ".";
    }
    result.timings.total_ms = 4321.5;
    return result;
}

SiteConfig long_site() {
    SiteConfig site;
    site.name = kLongName;
    site.url = kLongUrl;
    site.host = std::string(120, 'h') + ".corp.example.com";
    site.interval = 30s;
    site.timeout = 5s;
    site.failure_threshold = 2;
    site.success_threshold = 1;
    return site;
}

Config long_config() {
    Config config;
    config.source = "/etc/certheal/" + std::string(150, 'd') + "/certheal.json";
    config.service.state_dir = "/var/lib/certheal";
    config.sites = {long_site()};
    config.remediation.enabled = true;
    config.remediation.cooldown = 5min;
    config.remediation.max_attempts = 2;
    config.remediation.attempt_window = 1h;
    config.remediation.circuit_reset_after = 6h;
    config.remediation.steps = {
        Step{RunStep{"/opt/" + std::string(150, 'r') + "/reload-web-server", {"--really", std::string(100, 'a')}}, 60s},
        Step{StopServiceStep{"IISADMIN", true}, 2min},
        Step{StartServiceStep{"W3SVC"}, 2min},
        Step{RestoreDependentsStep{}, 2min},
        Step{VerifyStep{2, 10s}, 2min},
    };
    return config;
}

// The monitor on fakes; every probe answers the long evidence of `answer`.
struct Harness : MonitorHarness {
    ProbeClass answer = ProbeClass::client_cert_rejected;
    std::function<bool()> healed;  // the repair healed the host: probes answer healthy

    Harness() {
        prober.set_function([this](const SiteConfig& site) {
            return long_evidence(site, healed && healed() ? ProbeClass::healthy : answer);
        });
    }
};

std::string stderr_of_nginx() {
    std::string text;
    for (int line = 0; line < 40; ++line) text += "nginx: [warn] " + std::string(80, 'w') + "\n";
    return text + "nginx: [error] invalid PID number \"\" in \"/run/nginx.pid\"\n";
}

void check_sentences(const RecordingSink& events) {
    for (const auto& event : events.events()) {
        const std::string name{definition_of(event.id).name};
        INFO(name << ": " << event.message);
        CHECK_FALSE(event.message.empty());
        CHECK(event.message.size() <= kLongestSentence);
        // The facts that are fields (and columns of history) are not repeated in the sentence.
        CHECK(event.message.find(kLongName) == std::string::npos);
        CHECK(event.message.find(kLongUrl) == std::string::npos);
        if (!event.incident.empty()) CHECK(event.message.find(event.incident) == std::string::npos);
    }
}

}  // namespace

TEST_CASE("every event of a long incident with a failed step and an open circuit fits 200 characters",
          "[events][text]") {
    Harness h;
    h.processes.set_default(exited(1, std::string(5000, 'o'), stderr_of_nginx()));
    h.monitor.start(long_config());
    h.clock.advance(0ms);
    h.clock.advance(30s);   // confirmed, repaired, the step fails
    h.clock.advance(6min);  // after the cooldown: the second and last attempt fails, the circuit opens
    h.clock.advance(30s);   // skipped: the circuit is open
    h.answer = ProbeClass::healthy;
    h.clock.advance(30s);   // recovered by hand
    h.answer = ProbeClass::unexpected_status;
    h.clock.advance(30s);   // a class that is not a symptom
    h.answer = ProbeClass::healthy;
    h.clock.advance(30s);   // probe_recovered
    h.monitor.stop("stop requested by SIGTERM", [] {});

    for (const auto id : {EventId::service_started, EventId::probe_failed, EventId::symptom_confirmed,
                          EventId::repair_started, EventId::step_failed, EventId::repair_failed,
                          EventId::circuit_opened, EventId::repair_skipped, EventId::site_recovered,
                          EventId::probe_recovered}) {
        INFO(definition_of(id).name);
        CHECK(h.events.count(id) >= 1);
    }
    check_sentences(h.events);
}

TEST_CASE("every event of a long incident healed by a repair ladder fits 200 characters", "[events][text]") {
    Harness h;
    auto config = long_config();
    config.remediation.steps.clear();
    RepairStage trust;
    trust.name = "trust-" + std::string(150, 't');
    trust.steps = {Step{RunStep{"/opt/" + std::string(150, 'r') + "/resync-trust", {}}, 60s}};
    RepairStage skipped = trust;
    skipped.name = "never-" + std::string(150, 'n');
    skipped.when.classes = {ProbeClass::connect_failed};
    RepairStage restart = trust;
    restart.name = "restart-" + std::string(150, 's');
    restart.steps = {Step{StopServiceStep{"IISADMIN", true}, 2min}, Step{StartServiceStep{"W3SVC"}, 2min},
                     Step{RestoreDependentsStep{}, 2min}};
    config.remediation.stages = {trust, skipped, restart};
    config.remediation.verify = VerifyStep{1, 1s};
    h.processes.set_default(exited(0, "done", ""));
    // The first stage does not heal; the service restart of the last one does.
    h.healed = [&h] { return !h.services.calls().empty(); };
    h.monitor.start(config);
    h.clock.advance(0ms);
    for (int i = 0; i < 20; ++i) h.clock.advance(5s);

    for (const auto id : {EventId::stage_started, EventId::stage_skipped, EventId::stage_failed,
                          EventId::stage_succeeded, EventId::step_succeeded, EventId::repair_succeeded}) {
        INFO(definition_of(id).name);
        CHECK(h.events.count(id) >= 1);
    }
    check_sentences(h.events);
}

TEST_CASE("every event of a dry run over a long incident fits 200 characters", "[events][text]") {
    Harness h;
    auto config = long_config();
    config.remediation.dry_run = true;
    h.monitor.start(config);
    h.clock.advance(0ms);
    h.clock.advance(30s);
    CHECK(h.events.count(EventId::repair_skipped) == 1);
    CHECK(h.events.count(EventId::step_succeeded) == config.remediation.steps.size());
    check_sentences(h.events);
}

TEST_CASE("circuit_opened names certheal resume, when repairs resume by themselves, and the web server",
          "[events][text][policy]") {
    const auto run = [](const std::string& web_server) {
        auto h = std::make_unique<Harness>();
        auto config = long_config();
        config.remediation.max_attempts = 1;
        config.remediation.web_server = web_server;
        h->processes.set_default(exited(1, "", stderr_of_nginx()));
        h->monitor.start(config);
        h->clock.advance(0ms);
        h->clock.advance(30s);
        return h;
    };
    const auto windows = run("IIS");
    const auto opened = windows->events.last(EventId::circuit_opened);
    REQUIRE(opened);
    CHECK_THAT(opened->message, Catch::Contains("`certheal resume`"));
    CHECK_THAT(opened->message, Catch::Contains("Check IIS "));
    // When it closes by itself: the time, in the one format, that the field reset_at also has.
    const std::string reset_at = opened->details.at("reset_at").get<std::string>();
    CHECK_THAT(opened->message, Catch::Contains("resume at " + reset_at + "."));
    CHECK(parse_time_utc(reset_at) == windows->clock.wall_now() + std::chrono::duration_cast<Duration>(6h));

    const auto elsewhere = run("the web server");
    const auto opened_elsewhere = elsewhere->events.last(EventId::circuit_opened);
    REQUIRE(opened_elsewhere);
    CHECK_THAT(opened_elsewhere->message, Catch::Contains("Check the web server "));
    CHECK(opened_elsewhere->message.find("IIS") == std::string::npos);
}

TEST_CASE("repair_failed promises a retry only when the circuit does not open right after it",
          "[events][text][policy]") {
    Harness h;
    auto config = long_config();
    config.remediation.max_attempts = 2;
    h.processes.set_default(exited(1, "", "failed\n"));
    h.monitor.start(config);
    h.clock.advance(0ms);
    h.clock.advance(30s);
    const auto first = h.events.all(EventId::repair_failed);
    REQUIRE(first.size() == 1);
    CHECK_THAT(first[0].message, Catch::Contains("tries again after the cooldown"));
    CHECK(first[0].details.at("retry") == true);
    CHECK(h.events.count(EventId::circuit_opened) == 0);

    h.clock.advance(6min);
    const auto failures = h.events.all(EventId::repair_failed);
    REQUIRE(failures.size() == 2);
    CHECK(h.events.count(EventId::circuit_opened) == 1);
    CHECK(failures[1].message.find("tries again") == std::string::npos);
    CHECK_THAT(failures[1].message, Catch::Contains("stops repairing"));
    CHECK(failures[1].details.at("retry") == false);
    // And in that order: the failure, then the circuit.
    const auto names = h.events.names();
    const auto failed_at = std::find(names.rbegin(), names.rend(), "repair_failed");
    const auto opened_at = std::find(names.rbegin(), names.rend(), "circuit_opened");
    CHECK(std::distance(names.rbegin(), opened_at) < std::distance(names.rbegin(), failed_at));
}

TEST_CASE("times people read are RFC 3339 UTC with milliseconds", "[events][text][time]") {
    const TimePoint time = *parse_time_utc("2026-12-05T07:03:12.345Z");
    CHECK(format_time_utc(time) == "2026-12-05T07:03:12.345Z");
    CHECK(format_time_utc(time + 654us) == "2026-12-05T07:03:12.345Z");  // truncated, not rounded

    const std::regex rfc3339_ms(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
    Event event;
    event.id = EventId::circuit_opened;
    event.time = time;
    event.incident = "20261205T070312-1";
    event.message = "Repairs stopped.";
    const auto line = format_event_line(event);
    CHECK(line.rfind("2026-12-05T07:03:12.345Z  circuit_opened  -  [20261205T070312-1]  Repairs stopped.", 0) == 0);

    // A journal line as certheal wrote it, and one with a time of fewer digits: both read back
    // in the one format.
    const auto record = nlohmann::json::parse(R"({"time":"2026-12-05T07:03:12.3Z","event":"service_started","message":"x"})");
    const auto history = format_event_line(record);
    CHECK(history.rfind("2026-12-05T07:03:12.300Z  service_started", 0) == 0);
    CHECK(std::regex_search(history, rfc3339_ms));
}

TEST_CASE("durations read as ms below a second, tenths of seconds below a minute, then as configured",
          "[events][text][time]") {
    CHECK(format_elapsed(0ms) == "0 ms");
    CHECK(format_elapsed(350ms) == "350 ms");
    CHECK(format_elapsed(999ms) == "999 ms");
    CHECK(format_elapsed(1000ms) == "1.0 s");
    CHECK(format_elapsed(1299ms) == "1.2 s");
    CHECK(format_elapsed(59999ms) == "59.9 s");
    CHECK(format_elapsed(90500ms) == "1m30s");
    CHECK(format_elapsed(std::chrono::duration_cast<Duration>(2h + 5min + 3s)) == "2h5m3s");
    CHECK(format_elapsed(-5ms) == "0 ms");
}

TEST_CASE("a failed step's last output lines follow its line in history and on the console",
          "[events][text][journal]") {
    Event event;
    event.id = EventId::step_failed;
    event.time = *parse_time_utc("2026-12-05T07:03:18.450Z");
    event.incident = "20261205T070318-1";
    event.message = "Repair step 1 of 2 (run) failed: the program exited with code 1.";
    std::string stderr_text;
    for (int line = 1; line <= 8; ++line) stderr_text += "line " + std::to_string(line) + "\n";
    stderr_text += "nginx: [error] invalid PID number \"\" in \"/run/nginx.pid\"\x1b[31m\r\n";
    event.details = {{"error", "reload-web-server exited with code 1."},
                     {"output_tail", {{"stdout", "ignored"}, {"stderr", stderr_text}}}};
    const auto text = format_event_line(event);
    CHECK_THAT(text, Catch::Contains("\n    error: reload-web-server exited with code 1."));
    CHECK_THAT(text, Catch::EndsWith("\n    stderr: nginx: [error] invalid PID number \"\" in \"/run/nginx.pid\"?[31m"));
    CHECK_THAT(text, Catch::Contains("\n    stderr: line 5\n"));  // the last five lines
    CHECK(text.find("line 4") == std::string::npos);
    CHECK(text.find("ignored") == std::string::npos);

    // Read back from the journal, the same lines.
    const auto record = nlohmann::json::parse(journal_record(event).dump());
    CHECK(format_event_line(record) == text);

    // Without stderr, stdout's last lines stand in.
    event.details["output_tail"] = {{"stdout", "only stdout\n"}, {"stderr", "\n"}};
    CHECK_THAT(format_event_line(event), Catch::EndsWith("\n    stdout: only stdout"));
}
