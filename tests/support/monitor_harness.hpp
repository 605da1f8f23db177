#pragma once
// The monitor on fakes, for the unit tests that drive it through whole incidents (monitor_test,
// event_text_test): every port it needs, and the IIS services the repair steps of their configs
// name. Each test adds how its probes answer (prober.set_function) and what its programs return.

#include <cstddef>

#include "core/policy/monitor.hpp"
#include "support/fakes.hpp"

namespace certheal::testing {

struct MonitorHarness {
    FakeClock clock;
    FakeProber prober;
    FakeServiceManager services;
    FakeProcessRunner processes;
    InlineWorkerPool workers;
    MemoryStateStore state;
    RecordingSink events;
    FakeCertificateStores stores{/*available=*/false};
    RecordingFileReplacer files;
    Monitor monitor{MonitorPorts{clock, prober, services, processes, workers, state, events, stores, files}};

    MonitorHarness() {
        services.add_service("IISADMIN", true);
        services.add_service("W3SVC", true, {"IISADMIN"});
    }

    std::size_t count(EventId id) const { return events.count(id); }
};

}  // namespace certheal::testing
