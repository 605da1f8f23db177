#include <catch2/catch.hpp>

#include "core/record/status_report.hpp"
#include "core/record/status_server.hpp"
#include "core/base/time_format.hpp"
#include "support/fakes.hpp"

using namespace certheal;

TEST_CASE("the metrics page shows each site's health, symptom and counters with escaped labels", "[status]") {
    MonitorStatus status;
    SiteStatus intranet;
    intranet.name = "intranet";
    intranet.symptom_confirmed = true;
    intranet.probes = 7;
    intranet.failed_probes = 3;
    ProbeResult rejected;
    rejected.probe_class = ProbeClass::client_cert_rejected;
    rejected.timings.total_ms = 12.5;
    intranet.last_result = rejected;
    SiteStatus odd;
    odd.name = "we\"ird\\name";
    status.sites = {intranet, odd};
    status.repairs_started = 2;
    status.repairs_failed = 2;
    status.circuit_open = true;
    status.attempts_in_window = 2;

    const auto text = render_metrics(status);
    CHECK_THAT(text, Catch::Contains("certheal_site_healthy{site=\"intranet\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("certheal_site_symptom_confirmed{site=\"intranet\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("certheal_probes_total{site=\"intranet\"} 7\n"));
    CHECK_THAT(text, Catch::Contains("certheal_probe_failures_total{site=\"intranet\"} 3\n"));
    CHECK_THAT(text, Catch::Contains("certheal_probe_duration_seconds{site=\"intranet\"} 0.0125\n"));
    CHECK_THAT(text, Catch::Contains("certheal_site_healthy{site=\"we\\\"ird\\\\name\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("certheal_circuit_open 1\n"));
    CHECK_THAT(text, Catch::Contains("certheal_repairs_started_total 2\n"));
    CHECK_THAT(text, Catch::Contains("# TYPE certheal_probes_total counter\n"));
}

namespace {
TimePoint at_unix(long long seconds) { return TimePoint{std::chrono::seconds(seconds)}; }
}  // namespace

TEST_CASE("the metrics page has the certificate expiries, the class, the phases and the last repair", "[status]") {
    MonitorStatus status;
    status.generated_at = at_unix(1'800'000'000);
    SiteStatus intranet;
    intranet.name = "intranet";
    intranet.client_cert_not_after = at_unix(1'900'000'000);
    ProbeResult result;
    result.probe_class = ProbeClass::client_cert_rejected;
    result.timings.connect_ms = 2.0;
    result.timings.tls_ms = 30.0;
    result.server_cert_not_after = at_unix(1'850'000'000);
    intranet.last_result = result;
    SiteStatus never_probed;
    never_probed.name = "new";
    status.sites = {intranet, never_probed};
    status.last_repair = RepairPolicy::LastRepair{"inc-1", at_unix(1'799'000'000), false, true};

    const auto text = render_metrics(status);
    CHECK_THAT(text, Catch::Contains("certheal_client_cert_not_after_seconds{site=\"intranet\"} 1900000000\n"));
    CHECK_THAT(text, Catch::Contains("certheal_server_cert_not_after_seconds{site=\"intranet\"} 1850000000\n"));
    CHECK_THAT(text, Catch::Contains("certheal_site_class{site=\"intranet\",class=\"client_cert_rejected\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("certheal_site_class{site=\"intranet\",class=\"healthy\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("certheal_probe_phase_seconds{site=\"intranet\",phase=\"tls\"} 0.03\n"));
    CHECK_THAT(text, Catch::Contains("certheal_probe_phase_seconds{site=\"intranet\",phase=\"connect\"} 0.002\n"));
    CHECK_THAT(text, !Catch::Contains("phase=\"resolve\""));  // a phase never reached has no sample
    CHECK_THAT(text, !Catch::Contains("certheal_site_class{site=\"new\""));
    CHECK_THAT(text, Catch::Contains("certheal_last_repair_timestamp_seconds 1799000000\n"));
    CHECK_THAT(text, Catch::Contains("certheal_last_repair_success 0\n"));
    CHECK_THAT(text, Catch::Contains("certheal_metrics_generated_timestamp_seconds 1800000000\n"));
}

TEST_CASE("without a repair on record there is no last-repair sample rather than a false zero", "[status]") {
    const auto text = render_metrics(MonitorStatus{});
    CHECK_THAT(text, !Catch::Contains("certheal_last_repair_success"));
}

TEST_CASE("the status document names the policy, each site's class, incident and expiries", "[status]") {
    MonitorStatus status;
    status.generated_at = at_unix(1'800'000'000);
    status.circuit_open = true;
    status.circuit_opened_at = at_unix(1'799'990'000);
    status.circuit_closes_at = at_unix(1'800'011'600);
    status.attempts_in_window = 3;
    status.max_attempts = 3;
    SiteStatus intranet;
    intranet.name = "intranet";
    intranet.incident = "20270115T080000-1";
    intranet.symptom_confirmed = true;
    intranet.class_since = at_unix(1'799'980'000);
    ProbeResult result;
    result.probe_class = ProbeClass::client_cert_rejected;
    intranet.last_result = result;
    status.sites = {intranet};

    const auto document = status_document(status, 4242);
    CHECK(document["version"] == 1);
    CHECK(document["pid"] == 4242);
    CHECK(document["policy"]["circuit_open"] == true);
    CHECK(document["policy"]["circuit_closes_at"] == "2027-01-15T11:13:20.000Z");
    CHECK(document["policy"]["attempts_left"] == 0);
    CHECK(document["policy"]["cooldown_until"].is_null());
    const auto& site = document["sites"][0];
    CHECK(site["class"] == "client_cert_rejected");
    CHECK(site["incident"] == "20270115T080000-1");
    CHECK(site["since"] == "2027-01-15T02:26:40.000Z");
    CHECK(site["server_cert_not_after"].is_null());
}

TEST_CASE("the status file's text is the status document, a site per line", "[status]") {
    MonitorStatus status;
    SiteStatus one, two;
    one.name = "one";
    two.name = "two";
    status.sites = {one, two};
    const auto text = status_document_text(status, 7);
    CHECK(nlohmann::json::parse(text) == status_document(status, 7));
    CHECK(std::count(text.begin(), text.end(), '\n') == 5);  // the head, "sites", one line each, the end
    CHECK(nlohmann::json::parse(status_document_text(MonitorStatus{}, 7)) == status_document(MonitorStatus{}, 7));
}

TEST_CASE("the metrics page says the version and the remediation mode", "[status][metrics]") {
    MonitorStatus status;
    auto text = render_metrics(status);
    CHECK_THAT(text, Catch::Contains("certheal_build_info{version=\"" CERTHEAL_VERSION "\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"enabled\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"dry_run\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"disabled\"} 0\n"));

    status.dry_run = true;
    text = render_metrics(status);
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"dry_run\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"enabled\"} 0\n"));

    status.remediation_enabled = false;  // disabled wins: not even a dry run starts
    text = render_metrics(status);
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"disabled\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"dry_run\"} 0\n"));
}

TEST_CASE("the metrics page counts every probe of a site by class", "[status][metrics]") {
    MonitorStatus status;
    SiteStatus intranet;
    intranet.name = "intranet";
    intranet.class_counts = {{ProbeClass::healthy, 2879}, {ProbeClass::unexpected_status, 1}};
    status.sites = {intranet};
    const auto text = render_metrics(status);
    CHECK_THAT(text, Catch::Contains("# TYPE certheal_probe_class_total counter\n"));
    CHECK_THAT(text, Catch::Contains("certheal_probe_class_total{site=\"intranet\",class=\"healthy\"} 2879\n"));
    CHECK_THAT(text,
               Catch::Contains("certheal_probe_class_total{site=\"intranet\",class=\"unexpected_status\"} 1\n"));
    CHECK_THAT(text, !Catch::Contains("class=\"timeout\"} 0"));  // a class never seen has no line
}

// --- when status.json and certheal.prom are rewritten ------------------------------------------

namespace {

struct Schedule {
    certheal::test::FakeClock clock;
    int writes = 0;
    StatusWriteSchedule schedule{clock, [this] { ++writes; }};
};

}  // namespace

TEST_CASE("a significant change is written a second later, at most every five seconds", "[status][schedule]") {
    using namespace std::chrono_literals;
    Schedule s;
    s.schedule.changed(StatusChange::significant);
    s.clock.advance(999ms);
    CHECK(s.writes == 0);
    s.clock.advance(1ms);
    CHECK(s.writes == 1);
    for (int i = 0; i < 20; ++i) {  // a change every 100 ms for 2 s
        s.schedule.changed(StatusChange::significant);
        s.clock.advance(100ms);
    }
    CHECK(s.writes == 1);
    s.clock.advance(3s);  // five seconds after the first write
    CHECK(s.writes == 2);
    CHECK(s.clock.pending_timers() == 0);
}

TEST_CASE("counters and probe times alone are written at most once a minute; nothing while nothing changes",
          "[status][schedule]") {
    using namespace std::chrono_literals;
    Schedule s;
    s.schedule.changed(StatusChange::significant);
    s.clock.advance(1s);
    REQUIRE(s.writes == 1);
    for (int second = 0; second < 120; ++second) {  // a probe result every second for two minutes
        s.schedule.changed(StatusChange::routine);
        s.clock.advance(1s);
    }
    CHECK(s.writes == 3);
    s.clock.advance(10min);
    CHECK(s.writes == 3);
    CHECK(s.clock.pending_timers() == 0);
}

TEST_CASE("a significant change is not held back by a routine write waiting for its minute", "[status][schedule]") {
    using namespace std::chrono_literals;
    Schedule s;
    s.schedule.changed(StatusChange::significant);
    s.clock.advance(1s);
    s.schedule.changed(StatusChange::routine);  // due a minute after that write
    s.clock.advance(10s);
    s.schedule.changed(StatusChange::significant);
    s.clock.advance(1s);
    CHECK(s.writes == 2);
}

TEST_CASE("a pause shows as the paused mode and per site in the metrics and the status document",
          "[status][metrics][pause]") {
    using namespace std::chrono_literals;
    MonitorStatus status;
    SiteStatus intranet;
    intranet.name = "intranet";
    SiteStatus portal;
    portal.name = "portal";
    RepairPolicy::Pause site_pause;
    site_pause.site = "portal";
    site_pause.since = *parse_time_utc("2026-11-24T22:00:00.000Z");
    site_pause.by = "alice";
    portal.pause = site_pause;
    status.sites = {intranet, portal};
    status.dry_run = true;

    auto text = render_metrics(status);
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"dry_run\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"paused\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("certheal_site_paused{site=\"intranet\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("certheal_site_paused{site=\"portal\"} 1\n"));
    auto document = status_document(status, 7);
    CHECK(document["remediation"]["mode"] == "dry_run");
    CHECK(document["sites"][1]["pause"]["by"] == "alice");
    CHECK(document["sites"][1]["pause"]["until"].is_null());
    CHECK(document["sites"][0]["pause"].is_null());

    RepairPolicy::Pause host_pause;
    host_pause.since = site_pause.since;
    host_pause.until = site_pause.since + 2h;
    host_pause.by = "bob";
    host_pause.reason = "patching";
    status.host_pause = host_pause;
    text = render_metrics(status);
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"paused\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("certheal_remediation_mode{mode=\"dry_run\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("certheal_site_paused{site=\"intranet\"} 1\n"));
    document = status_document(status, 7);
    CHECK(document["remediation"]["mode"] == "paused");
    CHECK(document["remediation"]["dry_run"] == true);
    CHECK(document["remediation"]["paused_until"] == "2026-11-25T00:00:00.000Z");
    CHECK(document["remediation"]["paused_by"] == "bob");
    CHECK(document["remediation"]["paused_reason"] == "patching");
}
