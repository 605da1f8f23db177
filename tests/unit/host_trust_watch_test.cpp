#include <catch2/catch.hpp>

#include "core/policy/monitor.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/record/status_report.hpp"
#include "core/record/status_server.hpp"
#include "support/fakes.hpp"
#include "support/monitor_harness.hpp"
#include "support/pki.hpp"
#include "support/shared_pki.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

Config iis_config() {
    SiteConfig site;
    site.name = "intranet";
    site.url = "https://intranet.test/health";
    site.host = "intranet.test";
    site.interval = 30s;
    site.failure_threshold = 2;
    site.tls.client_cert = PemClientCert{shared_pki().client_cert, shared_pki().client_key};
    Config config;
    config.source = "C:\\ProgramData\\certheal\\certheal.json";
    config.sites = {site};
    config.remediation.cooldown = 5min;
    config.remediation.max_attempts = 2;
    config.remediation.steps = {Step{RunStep{"C:\\Windows\\System32\\inetsrv\\iisca.exe", {}}, 60s}};
    return config;
}

// An IIS host in exclusive CA trust (mode 2) whose ClientAuthIssuer lacks the CA that issued
// certheal's certificate: the diagnosis names issuer_missing_from_binding_store.
struct Host : MonitorHarness {
    Host() : MonitorHarness({.stores_available = true, .iis_services = false, .host_trust = true}) {
        processes.set_default(exited(0));
        prober.set_function([](const SiteConfig& site) { return probe_result(site.name, ProbeClass::client_cert_rejected, 403); });
        stores.put("Root", der_of(shared_pki().ca_cert));
        stores.put("ClientAuthIssuer", der_of(shared_pki().other_ca_cert));
        inspector.registry.os_build = 20348;
        inspector.registry.values = {{"ClientAuthTrustMode", "REG_DWORD", 2, ""}};
        inspector.found.bindings = {[] {
            SslBinding binding;
            binding.kind = SslBinding::Kind::hostname_port;
            binding.address = "intranet.test";
            binding.port = 443;
            binding.endpoint = "intranet.test:443";
            binding.source = "registry";
            binding.flags = SslBinding::kNegotiateClientCert;
            binding.cert_check_mode = SslBinding::kNoRevocationCheck;
            return binding;
        }()};
        const auto ca = der_of(shared_pki().ca_cert);
        inspector.chains = [ca](const ChainRequest& request) {
            BuiltChain built;
            built.certificates = {request.leaf, ca};
            built.error_status = request.exclusive_store ? chain_status::untrusted_root : 0;
            return built;
        };
    }
};

}  // namespace

TEST_CASE("symptom_confirmed and the repair's events carry the cause the host trust diagnosis names",
          "[monitor][diagnosis]") {
    Host host;
    host.monitor.start(iis_config());
    host.clock.advance(30s);  // two rejected probes confirm the symptom

    const auto confirmed = host.events.last(EventId::symptom_confirmed);
    REQUIRE(confirmed);
    CHECK(confirmed->details.at("cause") == "issuer_missing_from_binding_store");
    CHECK(confirmed->details.at("class") == "client_cert_rejected");
    const auto& trust = confirmed->details.at("host_trust");
    CHECK(trust.at("trust_mode") == 2);
    CHECK(trust.at("binding_store") == "ClientAuthIssuer");
    CHECK(trust.at("issuer_list_bytes").get<int>() > 0);
    CHECK(trust.at("binding").at("endpoint") == "intranet.test:443");
    CHECK(confirmed->details.at("cause") == "issuer_missing_from_binding_store");
    CHECK_THAT(confirmed->message, Catch::Contains("The host trust diagnosis names a cause"));
    CHECK_FALSE(confirmed->details.at("diagnosis").get<std::string>().empty());

    const auto started = host.events.last(EventId::repair_started);
    REQUIRE(started);
    CHECK(started->details.at("cause") == "issuer_missing_from_binding_store");
    CHECK(started->incident == confirmed->incident);
    const auto failed = host.events.last(EventId::repair_failed);
    const auto succeeded = host.events.last(EventId::repair_succeeded);
    REQUIRE((failed || succeeded));
    CHECK((failed ? failed : succeeded)->details.at("cause") == "issuer_missing_from_binding_store");

    // The diagnosis runs at start, for the symptom (the repair right after reuses it), not on
    // every probe.
    const auto chains_built = host.inspector.requests.size();
    CHECK(chains_built == 4);  // two diagnoses, each: machine chain and exclusive chain

    const auto status = host.monitor.status();
    REQUIRE(status.sites.size() == 1);
    CHECK(status.sites.front().cause == TrustCause::issuer_missing_from_binding_store);
    REQUIRE(status.host_trust);
    CHECK(status.host_trust->causes == std::vector<std::string>{"issuer_missing_from_binding_store"});
    const auto metrics = render_metrics(status);
    CHECK_THAT(metrics, Catch::Contains("certheal_host_trust_cause{cause=\"issuer_missing_from_binding_store\"} 1"));
    CHECK_THAT(metrics, Catch::Contains("certheal_host_trust_cause{cause=\"ca_not_trusted\"} 0"));
    const auto document = status_document(status, 42);
    CHECK(document.at("host_trust").at("fingerprint") == status.host_trust->fingerprint);
    CHECK(document.at("sites").at(0).at("cause") == "issuer_missing_from_binding_store");
}

TEST_CASE("a diagnosis that is not fresh runs again before the next repair", "[monitor][diagnosis]") {
    Host host;
    host.monitor.start(iis_config());
    host.clock.advance(30s);
    REQUIRE(host.events.count(EventId::repair_started) == 1);
    const auto before = host.inspector.requests.size();
    host.clock.advance(10min);  // past the cooldown: the symptom stays and a second repair starts
    REQUIRE(host.events.count(EventId::repair_started) == 2);
    CHECK(host.inspector.requests.size() == before + 2);
}

TEST_CASE("a change of the host trust is reported once as host_trust_changed", "[monitor][diagnosis]") {
    Host host;
    host.prober.set_function([](const SiteConfig& site) { return probe_result(site.name, ProbeClass::healthy, 200); });
    host.monitor.start(iis_config());
    host.clock.advance(1s);
    CHECK(host.events.count(EventId::host_trust_changed) == 0);  // the first diagnosis is the baseline
    const auto first = host.monitor.status().host_trust->fingerprint;

    host.monitor.reload(iis_config());
    CHECK(host.events.count(EventId::host_trust_changed) == 0);  // nothing changed

    host.stores.put("ClientAuthIssuer", der_of(shared_pki().ca_cert));  // an admin adds the CA
    host.monitor.reload(iis_config());
    REQUIRE(host.events.count(EventId::host_trust_changed) == 1);
    const auto changed = host.events.last(EventId::host_trust_changed);
    CHECK(changed->details.at("previous_fingerprint") == first);
    CHECK(changed->details.at("fingerprint") != first);
    CHECK(changed->details.at("changed") == nlohmann::json::array({"stores.ClientAuthIssuer"}));
    CHECK(changed->details.at("causes").at("intranet") == "none_found");
    CHECK_THAT(changed->message, Catch::Contains("trust settings of this host changed (see changed)"));

    // The daily round diagnoses again: a setting changed meanwhile is said then.
    host.inspector.registry.values = {{"ClientAuthTrustMode", "REG_DWORD", 0, ""}};
    host.clock.advance(24h);
    CHECK(host.events.count(EventId::host_trust_changed) == 2);
}

TEST_CASE("where no diagnosis runs, events carry no cause and status no host trust", "[monitor][diagnosis]") {
    Host host;
    host.inspector.is_available = false;
    host.monitor.start(iis_config());
    host.clock.advance(30s);
    const auto confirmed = host.events.last(EventId::symptom_confirmed);
    REQUIRE(confirmed);
    CHECK_FALSE(confirmed->details.contains("cause"));
    CHECK(host.inspector.requests.empty());
    CHECK_FALSE(host.monitor.status().host_trust);
    CHECK_THAT(render_metrics(host.monitor.status()), !Catch::Contains("certheal_host_trust_cause"));
}
