#pragma once
// The monitor on fakes, for the unit tests that drive it through whole incidents (monitor_test,
// event_text_test, host_trust_watch_test): every port it needs, and the IIS services the repair
// steps of their configs name. Each test adds how its probes answer (prober.set_function) and what
// its programs return; host_trust_watch_test wires the fake host trust inspector instead.

#include <cstddef>

#include "core/policy/monitor.hpp"
#include "support/fakes.hpp"

namespace certheal::test {

// What a harness wires beyond what monitor_test needs.
struct MonitorHarnessOptions {
    bool stores_available = false;  // the fake certificate stores answer
    bool iis_services = true;       // IISADMIN and W3SVC (which depends on it) are installed
    bool host_trust = false;        // the fake host trust inspector feeds the diagnosis
};

struct MonitorHarness {
    FakeClock clock;
    FakeProber prober;
    FakeServiceManager services;
    FakeProcessRunner processes;
    InlineWorkerPool workers;
    MemoryStateStore state;
    RecordingSink events;
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    FakeHostTrustInspector inspector;
    Monitor monitor;

    explicit MonitorHarness(MonitorHarnessOptions options = {})
        : stores{options.stores_available},
          monitor{MonitorPorts{clock, prober, services, processes, workers, state, events, stores, files, nullptr,
                               options.host_trust ? &inspector : nullptr}} {
        if (options.iis_services) {
            services.add_service("IISADMIN", true);
            services.add_service("W3SVC", true, {"IISADMIN"});
        }
    }

    std::size_t count(EventId id) const { return events.count(id); }
};

}  // namespace certheal::test
