#include <catch2/catch.hpp>

#include "core/status_server.hpp"

using namespace certheal;

TEST_CASE("the metrics page shows each site's health, symptom and counters with escaped labels", "[status]") {
    MonitorStatus status;
    SiteStatus intranet;
    intranet.name = "intranet";
    intranet.symptom_confirmed = true;
    intranet.probes = 7;
    intranet.failed_probes = 3;
    ProbeResult rejected;
    rejected.cls = ProbeClass::client_cert_rejected;
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
