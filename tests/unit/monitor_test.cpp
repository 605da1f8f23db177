#include <catch2/catch.hpp>

#include <algorithm>

#include "core/policy/monitor.hpp"
#include "core/base/time_format.hpp"
#include "core/probe/certificate_info.hpp"
#include "support/fakes.hpp"
#include "support/monitor_harness.hpp"
#include "support/pki.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

SiteConfig site_named(const std::string& name) {
    SiteConfig site;
    site.name = name;
    site.url = "https://" + name + ".test/health";
    site.host = name + ".test";
    site.interval = 30s;
    site.timeout = 5s;
    site.failure_threshold = 3;
    site.success_threshold = 1;
    return site;
}

Config lab_config() {
    Config config;
    config.source = "/etc/certheal/certheal.json";
    config.service.state_dir = "/var/lib/certheal";
    config.sites = {site_named("intranet"), site_named("portal")};
    config.remediation.enabled = true;
    config.remediation.cooldown = 5min;
    config.remediation.max_attempts = 2;
    config.remediation.attempt_window = 1h;
    config.remediation.circuit_reset_after = 6h;
    config.remediation.steps = {
        Step{RunStep{"/usr/sbin/iisca", {}}, 60s},
        Step{StopServiceStep{"IISADMIN", true}, 2min},
        Step{StartServiceStep{"W3SVC"}, 2min},
        Step{RestoreDependentsStep{}, 2min},
        Step{VerifyStep{3, 10s}, 2min},
    };
    return config;
}

// Everything the monitor needs, on fakes. Sites are desynchronised until the repair's
// `run` step has run (`repair_heals`), as IISCA heals a real host.
struct Harness : MonitorHarness {
    bool repair_heals = true;

    Harness() {
        services.add_service("FTPSVC", true, {"IISADMIN"});
        processes.set_default(exited(0));
        prober.set_function([this](const SiteConfig& site) {
            const bool healed = repair_heals && !processes.calls().empty();
            return probe_result(site.name, healed ? ProbeClass::healthy : ProbeClass::client_cert_rejected);
        });
    }

    std::vector<std::string> incidents_of(EventId id) const {
        std::vector<std::string> incidents;
        for (const auto& event : events.all(id)) incidents.push_back(event.incident);
        return incidents;
    }
};

}  // namespace

TEST_CASE("a desynchronised site is confirmed after failure_threshold probes, repaired once and recovers",
          "[monitor]") {
    Harness h;
    h.monitor.start(lab_config());
    h.clock.advance(0ms);  // the first probe of every site runs at once
    CHECK(h.count(EventId::service_started) == 1);
    CHECK(h.count(EventId::probe_failed) == 2);  // one per site
    CHECK(h.count(EventId::symptom_confirmed) == 0);

    h.clock.advance(60s);  // probes 2 and 3 of each site
    // intranet is confirmed first; its repair heals the host before portal's third probe,
    // so portal never reaches its threshold. One repair, host-wide.
    CHECK(h.count(EventId::symptom_confirmed) == 1);
    CHECK(h.count(EventId::repair_started) == 1);
    CHECK(h.count(EventId::step_succeeded) == 5);
    CHECK(h.count(EventId::repair_succeeded) == 1);
    CHECK(h.processes.calls().size() == 1);
    CHECK(h.services.is_running("FTPSVC"));  // restored: `net start W3SVC` alone would leave it down

    h.clock.advance(30s);
    CHECK(h.count(EventId::site_recovered) == 1);
    CHECK(h.count(EventId::repair_started) == 1);

    // One incident ties the story of the triggering site together.
    const auto started = h.events.last(EventId::repair_started);
    REQUIRE(started);
    const auto incident = started->incident;
    CHECK_FALSE(incident.empty());
    CHECK(h.events.last(EventId::repair_succeeded)->incident == incident);
    const auto confirmed = h.incidents_of(EventId::symptom_confirmed);
    CHECK(std::count(confirmed.begin(), confirmed.end(), incident) == 1);
    CHECK(started->details.at("evidence").at("class") == "client_cert_rejected");
}

TEST_CASE("a failure class that is not a symptom is reported once per site but never repaired", "[monitor]") {
    Harness h;
    h.prober.set_function([](const SiteConfig& site) { return probe_result(site.name, ProbeClass::tls_error); });
    h.monitor.start(lab_config());
    h.clock.advance(5min);
    // 11 probes of each site, all tls_error: said when the run started, counted every time.
    CHECK(h.count(EventId::probe_failed) == 2);
    CHECK(h.count(EventId::symptom_confirmed) == 0);
    CHECK(h.count(EventId::repair_started) == 0);
    CHECK(h.processes.calls().empty());
    const auto status = h.monitor.status();
    REQUIRE(status.sites.size() == 2);
    CHECK(status.sites[0].class_counts.at(ProbeClass::tls_error) == 11);
    CHECK(status.sites[0].probes == 11);
}

TEST_CASE("probe_failed for a class that is not a symptom is written when the class changes, probe_recovered "
          "when the site is healthy again",
          "[monitor]") {
    Harness h;
    auto config = lab_config();
    config.sites = {site_named("intranet")};
    h.prober.script("intranet", {ProbeClass::unexpected_status, ProbeClass::unexpected_status, ProbeClass::timeout,
                                 ProbeClass::timeout, ProbeClass::unexpected_status, ProbeClass::healthy,
                                 ProbeClass::healthy, ProbeClass::timeout, ProbeClass::healthy});
    h.monitor.start(config);
    h.clock.advance(4min);  // nine probes, 30 s apart

    const auto failed = h.events.all(EventId::probe_failed);
    REQUIRE(failed.size() == 4);  // unexpected_status, timeout, unexpected_status; then timeout again
    CHECK(failed[0].details["class"] == "unexpected_status");
    CHECK(failed[1].details["class"] == "timeout");
    CHECK(failed[2].details["class"] == "unexpected_status");
    CHECK(failed[3].details["class"] == "timeout");
    CHECK_THAT(failed[0].message, Catch::Contains("again when the class changes"));

    const auto recovered = h.events.all(EventId::probe_recovered);
    REQUIRE(recovered.size() == 2);
    CHECK(recovered[0].site == "intranet");
    CHECK(recovered[0].details["failed_class"] == "unexpected_status");
    CHECK(recovered[0].details["failed_probes"] == 5);
    CHECK(recovered[0].details["failed_since"] == format_time_utc(FakeClock::default_start()));
    CHECK(recovered[0].details["class"] == "healthy");
    CHECK(recovered[1].details["failed_probes"] == 1);
    CHECK(h.count(EventId::site_recovered) == 0);  // no symptom was confirmed

    const auto counts = h.monitor.status().sites.at(0).class_counts;
    CHECK(counts.at(ProbeClass::unexpected_status) == 3);
    CHECK(counts.at(ProbeClass::timeout) == 3);
    CHECK(counts.at(ProbeClass::healthy) == 3);
}

TEST_CASE("a symptom class is said on every probe until it is confirmed, and its recovery is site_recovered",
          "[monitor]") {
    Harness h;
    h.repair_heals = false;
    auto config = lab_config();
    config.sites = {site_named("intranet")};
    config.remediation.enabled = false;
    h.monitor.start(config);
    h.clock.advance(2min);  // five probes: two said, the third confirms, the rest belong to the incident
    CHECK(h.count(EventId::probe_failed) == 2);
    CHECK(h.count(EventId::symptom_confirmed) == 1);
    h.repair_heals = true;
    h.processes.set_default(exited(0));
    h.prober.script("intranet", {ProbeClass::healthy});
    h.clock.advance(30s);
    CHECK(h.count(EventId::site_recovered) == 1);
    CHECK(h.count(EventId::probe_recovered) == 0);
}

TEST_CASE("a repair that does not help runs exactly max_attempts times, then the circuit opens", "[monitor]") {
    Harness h;
    h.repair_heals = false;
    h.monitor.start(lab_config());
    h.clock.advance(3h);  // far beyond cooldowns, within the circuit's reset period
    CHECK(h.count(EventId::repair_started) == 2);
    CHECK(h.count(EventId::repair_failed) == 2);
    CHECK(h.count(EventId::circuit_opened) == 1);
    // repair_skipped is written once per reason per incident, not on every probe.
    CHECK(h.count(EventId::repair_skipped) <= 4);
    const auto names = h.events.names();
    const auto opened = std::find(names.begin(), names.end(), "circuit_opened");
    CHECK(std::count(opened, names.end(), "repair_started") == 0);

    // The circuit opened at about 6m50s (two failed repairs, 5 min cooldown between them) and
    // closes circuit_reset_after (6h) later; the next symptomatic probe repairs once more.
    h.clock.advance(3h + 10min);
    CHECK(h.count(EventId::circuit_closed) == 1);
    CHECK(h.count(EventId::repair_started) == 3);
}

TEST_CASE("with remediation disabled a confirmed symptom is skipped once and nothing runs", "[monitor]") {
    Harness h;
    auto config = lab_config();
    config.remediation.enabled = false;
    h.monitor.start(config);
    h.clock.advance(10min);
    CHECK(h.count(EventId::symptom_confirmed) == 2);
    CHECK(h.count(EventId::repair_skipped) == 2);  // once per site's incident
    CHECK(h.events.last(EventId::repair_skipped)->details.at("reason") == "disabled");
    CHECK(h.processes.calls().empty());
    CHECK(h.services.calls().empty());
}

TEST_CASE("dry run logs every step as would run and changes nothing", "[monitor]") {
    Harness h;
    auto config = lab_config();
    config.remediation.dry_run = true;
    h.monitor.start(config);
    h.clock.advance(10min);
    CHECK(h.count(EventId::symptom_confirmed) == 2);
    CHECK(h.count(EventId::repair_started) == 0);
    CHECK(h.processes.calls().empty());
    CHECK(h.services.calls().empty());
    const auto steps = h.events.all(EventId::step_succeeded);
    REQUIRE(steps.size() >= 4);
    for (const auto& step : steps) CHECK(step.details.value("dry_run", false));
    const auto skipped = h.events.all(EventId::repair_skipped);
    REQUIRE_FALSE(skipped.empty());
    CHECK(skipped.front().details.at("reason") == "dry_run");
}

TEST_CASE("stopping during a repair abandons it safely and records service_stopped last", "[monitor]") {
    FakeClock clock;
    FakeProber prober;
    FakeServiceManager services;
    FakeProcessRunner processes;
    QueuedWorkerPool workers;
    MemoryStateStore state;
    RecordingSink events;
    FakeCertificateStores stores{/*available=*/false};
    RecordingFileReplacer files;
    services.add_service("IISADMIN", true);
    services.add_service("W3SVC", true, {"IISADMIN"});
    processes.set_default(exited(0));
    prober.set_function([](const SiteConfig& site) { return probe_result(site.name, ProbeClass::connect_failed); });
    Monitor monitor{MonitorPorts{clock, prober, services, processes, workers, state, events, stores, files}};
    monitor.start(lab_config());
    clock.advance(60s);
    REQUIRE(events.count(EventId::repair_started) == 1);
    REQUIRE(workers.pending() == 1);  // the `run` step waits on a worker

    bool stopped = false;
    monitor.stop("test", [&] { stopped = true; });
    CHECK_FALSE(stopped);  // not before the step in progress has returned
    workers.run_all();
    CHECK(stopped);
    CHECK(services.calls().empty());  // no step after the one in progress
    const auto names = events.names();
    CHECK(names.back() == "service_stopped");
    CHECK(events.count(EventId::repair_failed) == 1);
    CHECK(events.last(EventId::repair_failed)->details.at("cancelled") == true);
}

TEST_CASE("a reload keeps the health of kept sites and starts probing new ones", "[monitor]") {
    Harness h;
    h.repair_heals = false;
    auto config = lab_config();
    config.remediation.enabled = false;
    h.monitor.start(config);
    h.clock.advance(60s);
    REQUIRE(h.count(EventId::symptom_confirmed) == 2);

    auto reloaded = config;
    reloaded.sites = {site_named("intranet"), site_named("extranet")};
    h.monitor.reload(reloaded);
    CHECK(h.count(EventId::config_reloaded) == 1);
    h.clock.advance(60s);
    const auto status = h.monitor.status();
    REQUIRE(status.sites.size() == 2);
    for (const auto& site : status.sites) {
        if (site.name == "intranet") CHECK(site.symptom_confirmed);
    }
    // intranet was already confirmed: not confirmed again; extranet is new and gets confirmed.
    CHECK(h.count(EventId::symptom_confirmed) == 3);
}

TEST_CASE("a certificate in LocalMachine\\Root that is not self-signed is reported once at start and reload",
          "[monitor][trust]") {
    const certheal::test::Pki pki;
    const auto der_of = [](const std::filesystem::path& pem) { return to_der(*load_certificates(pem).value().front()); };
    Harness h;
    h.stores.set_available(true);
    h.stores.put("Root", der_of(pki.ca_cert));
    h.stores.put("Root", der_of(pki.intermediate_ca_cert));

    h.monitor.start(lab_config());
    REQUIRE(h.count(EventId::root_store_misplaced) == 1);
    const auto event = *h.events.last(EventId::root_store_misplaced);
    CHECK(event.details["subject"] == "CN=certheal test intermediate CA,O=certheal tests");
    CHECK(event.details["sha1"].get<std::string>().size() == 40);
    CHECK_THAT(event.message, Catch::Contains("not self-signed") && Catch::Contains("KB 2802568"));

    h.monitor.reload(lab_config());  // still there: not said again
    CHECK(h.count(EventId::root_store_misplaced) == 1);

    h.stores.clear("Root");
    h.stores.put("Root", der_of(pki.ca_cert));
    h.monitor.reload(lab_config());  // moved out
    h.stores.put("Root", der_of(pki.intermediate_ca_cert));
    h.monitor.reload(lab_config());  // and back: said again
    CHECK(h.count(EventId::root_store_misplaced) == 2);
}

TEST_CASE("a clean LocalMachine\\Root, or a platform without stores, reports nothing", "[monitor][trust]") {
    const certheal::test::Pki pki;
    Harness clean;
    clean.stores.set_available(true);
    clean.stores.put("Root", to_der(*load_certificates(pki.ca_cert).value().front()));
    clean.monitor.start(lab_config());
    CHECK(clean.count(EventId::root_store_misplaced) == 0);
    CHECK(clean.stores.calls() == std::vector<std::string>{"list Root"});

    Harness none;
    none.monitor.start(lab_config());
    CHECK(none.count(EventId::root_store_misplaced) == 0);
    CHECK(none.stores.calls().empty());
}

TEST_CASE("a repair without a verify step says that the sites were not checked within it", "[monitor]") {
    Harness h;
    auto config = lab_config();
    config.remediation.steps.pop_back();  // no verify step
    h.monitor.start(config);
    h.clock.advance(0ms);
    h.clock.advance(60s);
    const auto succeeded = h.events.last(EventId::repair_succeeded);
    REQUIRE(succeeded);
    CHECK(succeeded->details.at("verified") == false);
    CHECK(succeeded->message.find("No verify step is configured") != std::string::npos);
    CHECK(succeeded->message.find("verified healthy") == std::string::npos);
}

TEST_CASE("a repair whose verify step passed says the sites were verified healthy", "[monitor]") {
    Harness h;
    h.monitor.start(lab_config());
    h.clock.advance(0ms);
    h.clock.advance(60s);
    const auto succeeded = h.events.last(EventId::repair_succeeded);
    REQUIRE(succeeded);
    CHECK(succeeded->details.at("verified") == true);
    CHECK(succeeded->message.find("verified healthy") != std::string::npos);
}

TEST_CASE("a step the platform could not start is named once, in sentences without doubled stops", "[monitor]") {
    Harness h;
    h.processes.set_default(Failure{std::make_error_code(std::errc::no_such_file_or_directory),
                                    "certheal could not start /usr/sbin/iisca: No such file or directory."});
    h.monitor.start(lab_config());
    h.clock.advance(0ms);
    h.clock.advance(60s);
    REQUIRE(h.count(EventId::repair_failed) >= 1);
    for (const auto id : {EventId::step_failed, EventId::repair_failed}) {
        const auto event = h.events.last(id);
        REQUIRE(event);
        // The error is the field; the sentence says which step failed, once.
        const std::string error = event->details.at("error").get<std::string>();
        INFO(event->message << " / " << error);
        CHECK(error.find("could not start /usr/sbin/iisca") != std::string::npos);
        CHECK(error.find("could not start /usr/sbin/iisca: certheal could not start") == std::string::npos);
        CHECK(error.find("..") == std::string::npos);
        CHECK(error.find("step 1: Step 1") == std::string::npos);
        CHECK(event->message.find("..") == std::string::npos);
        CHECK_THAT(event->message, Catch::Contains("tep 1"));
    }
    // Steps count from 1 in every event that names one, as in the sentence.
    CHECK(h.events.last(EventId::repair_failed)->details.at("failed_step") == 1);
    CHECK(h.events.last(EventId::step_failed)->details.at("step") == 1);
}

TEST_CASE("a server certificate that expires within 30 days is said once per certificate", "[monitor][certificates]") {
    Harness h;
    auto expires = h.clock.wall_now() + std::chrono::hours(24 * 10);
    h.prober.set_function([&](const SiteConfig& site) {
        auto result = probe_result(site.name, ProbeClass::healthy);
        if (site.name == "intranet") result.server_cert_not_after = expires;
        return result;
    });
    h.monitor.start(lab_config());
    h.clock.advance(0ms);
    h.clock.advance(90s);  // three more rounds: still the same certificate
    REQUIRE(h.count(EventId::certificate_expiring) == 1);
    const auto said = h.events.last(EventId::certificate_expiring);
    CHECK(said->site == "intranet");
    CHECK(said->details["certificate"] == "server");
    CHECK(said->details["days_left"] == 10);
    CHECK_THAT(said->message, Catch::Contains("server certificate expires within 30 days") &&
                                  Catch::Contains("Renew it in the web server (the site's HTTPS binding)"));

    expires += std::chrono::hours(24 * 5);  // renewed, but still soon
    h.clock.advance(30s);
    CHECK(h.count(EventId::certificate_expiring) == 2);
    expires += std::chrono::hours(24 * 365);  // renewed for a year: nothing to say
    h.clock.advance(60s);
    CHECK(h.count(EventId::certificate_expiring) == 2);
}

TEST_CASE("a renewed store client certificate is said once per selector, with both thumbprints, and is then watched",
          "[monitor][certificates]") {
    Harness h;
    Config config = lab_config();
    StoreClientCert selector;
    selector.issuer = "CN=Contoso Issuing CA,DC=contoso,DC=com";
    selector.eku = "clientAuth";
    for (auto& site : config.sites) site.tls.client_cert = selector;  // both sites share it
    const std::string old_sha1(40, 'A');
    const std::string new_sha1(40, 'B');
    PresentedCertificate presented{old_sha1, "CN=web01.contoso.com", h.clock.wall_now() - std::chrono::hours(24 * 300),
                                   h.clock.wall_now() + std::chrono::hours(24 * 65)};
    h.prober.set_function([&](const SiteConfig& site) {
        auto result = probe_result(site.name, ProbeClass::healthy);
        result.client_cert = presented;
        return result;
    });
    h.monitor.start(config);
    h.clock.advance(0ms);
    h.clock.advance(60s);
    CHECK(h.count(EventId::client_cert_changed) == 0);  // the first one seen is no change
    CHECK(h.count(EventId::certificate_expiring) == 0);  // 65 days left

    presented = PresentedCertificate{new_sha1, "CN=web01.contoso.com", h.clock.wall_now() - std::chrono::hours(1),
                                     h.clock.wall_now() + std::chrono::hours(24 * 365)};
    h.clock.advance(30s);  // a round of both sites
    h.clock.advance(60s);  // and two more
    REQUIRE(h.count(EventId::client_cert_changed) == 1);
    const auto said = h.events.last(EventId::client_cert_changed);
    CHECK(said->details["sha1"] == new_sha1);
    CHECK(said->details["previous_sha1"] == old_sha1);
    CHECK(said->details["sites"] == nlohmann::json::array({"intranet", "portal"}));
    CHECK(said->details["store"] == "LocalMachine\\My");
    CHECK_THAT(said->message, Catch::Contains("to 2 sites, a newer one") && Catch::Contains("Nothing needs doing"));
    CHECK_THAT(said->details["selector"].get<std::string>(), Catch::Contains("LocalMachine\\My certificates issued by"));
    const auto status = h.monitor.status();
    for (const auto& site : status.sites) {
        REQUIRE(site.client_cert_not_after);
        CHECK(*site.client_cert_not_after == presented.not_after);
    }
}

TEST_CASE("a store client certificate that expires within 30 days is said when the probe first presents it",
          "[monitor][certificates]") {
    Harness h;
    Config config = lab_config();
    StoreClientCert selector;
    selector.thumbprint = std::string(40, 'C');
    config.sites.resize(1);
    config.sites[0].tls.client_cert = selector;
    h.prober.set_function([&](const SiteConfig& site) {
        auto result = probe_result(site.name, ProbeClass::healthy);
        result.client_cert = PresentedCertificate{std::string(40, 'C'), "CN=web01", h.clock.wall_now() - std::chrono::hours(1),
                                                  h.clock.wall_now() + std::chrono::hours(24 * 10)};
        return result;
    });
    h.monitor.start(config);
    h.clock.advance(0ms);
    h.clock.advance(60s);
    REQUIRE(h.count(EventId::certificate_expiring) == 1);
    const auto said = h.events.last(EventId::certificate_expiring);
    CHECK(said->details["certificate"] == "client");
    CHECK_THAT(said->message, Catch::Contains("in the certificate store"));
}

TEST_CASE("the status says each site's class since when, its next probe, and the policy's budget", "[monitor][status]") {
    Harness h;
    int changes = 0;
    h.monitor.on_status_change([&](StatusChange) { ++changes; });
    h.monitor.start(lab_config());
    const auto started = h.clock.wall_now();
    h.clock.advance(0ms);
    CHECK(changes >= 2);
    auto status = h.monitor.status();
    REQUIRE(status.sites.size() == 2);
    CHECK(status.sites[0].class_since == started);
    CHECK(status.sites[0].next_probe_at == started + 30s);
    CHECK(status.max_attempts == 2);
    CHECK_FALSE(status.last_repair);

    h.clock.advance(60s);  // confirmed and repaired
    status = h.monitor.status();
    REQUIRE(status.last_repair);
    CHECK(status.last_repair->succeeded);
    CHECK_FALSE(status.last_repair->manual);
    CHECK(status.attempts_in_window == 1);
    REQUIRE(status.cooldown_until);
}

TEST_CASE("resume through the monitor closes an open circuit with reason operator", "[monitor][operator]") {
    Harness h;
    h.repair_heals = false;
    h.monitor.start(lab_config());
    h.clock.advance(0ms);
    for (int round = 0; round < 40 && h.count(EventId::circuit_opened) == 0; ++round) h.clock.advance(1min);
    REQUIRE(h.count(EventId::circuit_opened) == 1);
    CHECK(h.monitor.resume("certheal resume, sent as SIGUSR1"));
    REQUIRE(h.count(EventId::circuit_closed) == 1);
    CHECK(h.events.last(EventId::circuit_closed)->details["reason"] == "operator");
    CHECK_FALSE(h.monitor.status().circuit_open);
}

TEST_CASE("probe results that change only counters and times are routine; a new class is significant",
          "[monitor][status]") {
    Harness h;
    auto config = lab_config();
    config.sites = {site_named("intranet")};
    h.prober.script("intranet", {ProbeClass::healthy, ProbeClass::healthy, ProbeClass::timeout});
    std::vector<StatusChange> changes;
    h.monitor.on_status_change([&](StatusChange change) { changes.push_back(change); });
    h.monitor.start(config);
    h.clock.advance(0ms);  // the first probe: a class where there was none
    REQUIRE_FALSE(changes.empty());
    CHECK(changes.back() == StatusChange::significant);
    changes.clear();
    h.clock.advance(30s);  // healthy again: only the counters moved
    CHECK(changes == std::vector<StatusChange>{StatusChange::routine});
    changes.clear();
    h.clock.advance(30s);  // timeout
    CHECK(changes == std::vector<StatusChange>{StatusChange::significant});
}

TEST_CASE("a reload that changes state_dir or status_listen says it needs a restart and keeps the running values",
          "[monitor]") {
    Harness h;
    auto config = lab_config();
    config.service.status_listen = ListenAddress{"127.0.0.1", 9464};
    h.monitor.start(config);
    auto changed = config;
    changed.service.state_dir = "/srv/certheal";
    changed.service.status_listen = ListenAddress{"127.0.0.1", 9555};
    h.monitor.reload(changed, /*requests=*/3);
    const auto reloaded = *h.events.last(EventId::config_reloaded);
    CHECK(reloaded.details["needs_restart"] == nlohmann::json{"service.state_dir", "service.status_listen"});
    CHECK(reloaded.details["requests"] == 3);
    CHECK_THAT(reloaded.message, Catch::Contains("only after a restart"));
    CHECK(reloaded.details["kept"]["service.state_dir"] == "/var/lib/certheal");
    CHECK(reloaded.details["requested"]["service.state_dir"] == "/srv/certheal");
    CHECK(reloaded.details["requested"]["service.status_listen"] == "127.0.0.1:9555");
    CHECK(h.monitor.config().service.state_dir == "/var/lib/certheal");
    REQUIRE(h.monitor.config().service.status_listen);
    CHECK(h.monitor.config().service.status_listen->port == 9464);

    h.monitor.reload(config);  // nothing bound at start changed: nothing said
    const auto again = *h.events.last(EventId::config_reloaded);
    CHECK_FALSE(again.details.contains("needs_restart"));
    CHECK_FALSE(again.details.contains("requests"));
}

namespace {

// The IIS ladder: re-sync the trust (the `run` step, no downtime), then restart W3SVC, then
// IISADMIN with its dependents; the restarts only for a rejected certificate or a refused
// connection.
Config ladder_config() {
    Config config = lab_config();
    const std::set<ProbeClass> restartable{ProbeClass::client_cert_rejected, ProbeClass::connect_failed};
    config.remediation.steps.clear();
    config.remediation.verify = VerifyStep{2, 10s};
    config.remediation.stages = {
        RepairStage{"trust", {Step{RunStep{"/usr/sbin/iisca", {}}, 60s}}, {}, std::nullopt},
        RepairStage{"restart web service",
                    {Step{StopServiceStep{"W3SVC", false}, 2min}, Step{StartServiceStep{"W3SVC"}, 2min}},
                    {restartable, {}},
                    std::nullopt},
        RepairStage{"restart IIS with dependents",
                    {Step{StopServiceStep{"IISADMIN", true}, 2min}, Step{StartServiceStep{"W3SVC"}, 2min},
                     Step{RestoreDependentsStep{}, 2min}},
                    {restartable, {}},
                    std::nullopt},
    };
    return config;
}

}  // namespace

TEST_CASE("a ladder healed by its first stage: repair_succeeded names the stage and no service restarted",
          "[monitor][ladder]") {
    Harness h;
    h.monitor.start(ladder_config());
    h.clock.advance(2min);

    CHECK(h.count(EventId::repair_started) == 1);
    CHECK(h.count(EventId::repair_succeeded) == 1);
    CHECK(h.services.calls().empty());
    const auto started = *h.events.last(EventId::repair_started);
    REQUIRE(started.details.at("stages").size() == 3);
    CHECK(started.details.at("stages").at(0).at("stage") == "trust");
    CHECK_THAT(started.message, Catch::Contains("with 3 stages, least disruptive first"));
    const auto succeeded = *h.events.last(EventId::repair_succeeded);
    CHECK(succeeded.incident == started.incident);
    CHECK(succeeded.details.at("stage") == "trust");
    CHECK(succeeded.details.at("stage_number") == 1);
    CHECK(succeeded.details.at("stages_run") == 1);
    CHECK(succeeded.details.at("verified") == true);
    CHECK_THAT(succeeded.message, Catch::Contains("verified healthy after stage 1 of 3; the more disruptive stages after "
                                                  "it did not run"));
    h.clock.advance(1min);
    CHECK(h.count(EventId::site_recovered) >= 1);
}

TEST_CASE("a ladder that heals nothing counts as one repair of the incident for the budget and the circuit",
          "[monitor][ladder]") {
    Harness h;
    h.repair_heals = false;
    h.monitor.start(ladder_config());  // max_attempts 2, cooldown 5 min
    h.clock.advance(2min);
    REQUIRE(h.count(EventId::repair_failed) == 1);
    CHECK(h.count(EventId::stage_started) == 3);
    CHECK(h.count(EventId::stage_failed) == 3);
    auto status = h.monitor.status();
    CHECK(status.attempts_in_window == 1);  // three stages, one attempt
    CHECK_FALSE(status.circuit_open);
    const auto failed = *h.events.last(EventId::repair_failed);
    CHECK(failed.details.at("stages_run") == 3);
    CHECK_THAT(failed.message, Catch::Contains("No stage healed the sites"));
    CHECK_THAT(failed.details.at("error").get<std::string>(), Catch::Contains("no stage of the repair ladder made the sites healthy"));

    h.clock.advance(1h);
    CHECK(h.count(EventId::repair_started) == 2);
    CHECK(h.count(EventId::stage_started) == 6);
    CHECK(h.count(EventId::circuit_opened) == 1);  // after two incidents' ladders, as after two repairs
}

TEST_CASE("an incident no stage of the ladder applies to is skipped once, without spending the budget",
          "[monitor][ladder]") {
    Harness h;
    auto config = ladder_config();
    config.remediation.stages.erase(config.remediation.stages.begin());  // only the restarts
    for (auto& site : config.sites) site.symptoms.insert(ProbeClass::client_cert_invalid);
    h.prober.set_function([](const SiteConfig& site) { return probe_result(site.name, ProbeClass::client_cert_invalid); });
    h.monitor.start(config);
    h.clock.advance(10min);

    CHECK(h.count(EventId::symptom_confirmed) == 2);
    CHECK(h.count(EventId::repair_started) == 0);
    CHECK(h.services.calls().empty());
    CHECK(h.count(EventId::repair_skipped) == 2);  // once per site's incident, not per probe
    const auto skipped = *h.events.last(EventId::repair_skipped);
    CHECK(skipped.details.at("reason") == "no_stage");
    CHECK_THAT(skipped.message, Catch::Contains("No stage of the repair ladder applies to this incident"));
    CHECK_THAT(skipped.details.at("stages").at(0).at("reason").get<std::string>(),
               Catch::Contains("the incident's class is client_cert_invalid"));
    CHECK(h.monitor.status().attempts_in_window == 0);
}

TEST_CASE("a dry run of a ladder says in repair_skipped what each stage would do", "[monitor][ladder][dry_run]") {
    Harness h;
    auto config = ladder_config();
    config.remediation.dry_run = true;
    h.monitor.start(config);
    h.clock.advance(2min);
    CHECK(h.count(EventId::repair_started) == 0);
    CHECK(h.processes.calls().empty());
    CHECK(h.services.calls().empty());
    const auto skipped = h.events.all(EventId::repair_skipped);
    REQUIRE_FALSE(skipped.empty());
    CHECK(skipped.front().details.at("reason") == "dry_run");
    CHECK_THAT(skipped.front().details.at("plan").dump(),
               Catch::Contains("stage 1 of 3 (trust): would run: run /usr/sbin/iisca; verify: up to 2 probes, 10s "
                               "apart.") &&
                   Catch::Contains("stage 3 of 3 (restart IIS with dependents): would run only if the stages before it "
                                   "do not heal the sites"));
    CHECK(h.count(EventId::stage_started) == 2 * 3);  // one dry run per site's incident, every stage shown
    CHECK(h.count(EventId::stage_succeeded) == 0);
}

// --- the maintenance pause ----------------------------------------------------------------------

TEST_CASE("a symptom confirmed while the host is paused is held until the pause ends by itself, then repaired",
          "[monitor][pause]") {
    Harness h;
    const auto config = lab_config();
    const auto paused_at = h.clock.wall_now();
    {
        // `certheal pause --for 10m`, saved before the service started: it survives the start.
        RecordingSink command_events;
        RepairPolicy command(config.remediation, h.clock, h.state, command_events);
        command.load();
        command.pause("", 10min, "alice", "web server upgrade");
    }
    h.monitor.start(config);
    h.clock.advance(0ms);
    h.clock.advance(60s);
    CHECK(h.count(EventId::symptom_confirmed) == 2);
    CHECK(h.count(EventId::repair_started) == 0);
    CHECK(h.processes.calls().empty());
    const auto held = h.events.all(EventId::repair_skipped);
    REQUIRE(held.size() == 2);  // once per incident, not per probe
    CHECK(held.front().details.at("reason") == "paused");
    CHECK(held.front().details.at("retry_after") == format_time_utc(paused_at + 10min));
    CHECK_THAT(held.front().message, Catch::Contains("paused until " + format_time_utc(paused_at + 10min)));
    auto status = h.monitor.status();
    REQUIRE(status.host_pause);
    CHECK(status.host_pause->until == paused_at + 10min);
    CHECK(status.host_pause->by == "alice");

    h.clock.advance(5min);
    CHECK(h.count(EventId::repair_skipped) == 2);
    CHECK(h.count(EventId::repair_started) == 0);

    h.clock.advance_to(paused_at + 10min);  // the pause's own timer
    REQUIRE(h.count(EventId::unpaused) == 1);
    CHECK(h.events.last(EventId::unpaused)->details.at("by") == "by itself");
    CHECK_FALSE(h.monitor.status().host_pause);
    h.clock.advance(30s);  // the next symptomatic probe repairs
    CHECK(h.count(EventId::repair_started) == 1);
    CHECK(h.count(EventId::repair_succeeded) == 1);
}

TEST_CASE("a pause of one site holds its repair only, and another site's repair leaves it out", "[monitor][pause]") {
    Harness h;
    const auto config = lab_config();
    h.monitor.start(config);
    // `certheal pause --site intranet` while the service runs, then the signal.
    RecordingSink command_events;
    RepairPolicy command(config.remediation, h.clock, h.state, command_events);
    command.load();
    command.pause("intranet", std::nullopt, "alice", "");
    h.monitor.refresh_pauses();
    const auto status = h.monitor.status();
    CHECK_FALSE(status.host_pause);
    REQUIRE(status.sites.size() == 2);
    CHECK(status.sites[0].name == "intranet");
    CHECK(status.sites[0].pause);
    CHECK_FALSE(status.sites[1].pause);

    h.clock.advance(0ms);
    h.clock.advance(60s);
    CHECK(h.count(EventId::symptom_confirmed) == 2);
    const auto skipped = h.events.last(EventId::repair_skipped);
    REQUIRE(skipped);
    CHECK(skipped->site == "intranet");
    CHECK(skipped->details.at("reason") == "paused");
    REQUIRE(h.count(EventId::repair_started) == 1);
    const auto started = *h.events.last(EventId::repair_started);
    CHECK(started.site == "portal");
    CHECK(started.details.at("sites") == nlohmann::json::array({"portal"}));
}
