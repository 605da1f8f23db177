#pragma once
// The fakes behind the ports of the workflow and the repair ladder (WorkflowPorts), for their unit
// tests; each test's harness adds the worker pool it drives them with.

#include "core/repair/workflow.hpp"
#include "support/fakes.hpp"

namespace certheal::test {

struct WorkflowFakes {
    FakeServiceManager services;
    FakeProcessRunner processes;
    FakeProber prober;
    FakeClock clock;
    RecordingSink sink;
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    FakeSchannelSettings schannel;
    FakeBindingTrustSource binding_trust;

    WorkflowPorts ports(WorkerPool& pool) {
        return WorkflowPorts{services, processes, pool, prober, clock, sink, stores, files, &schannel, &binding_trust};
    }

    // IISADMIN with the web and FTP services that depend on it, all running.
    void add_iis_services() {
        services.add_service("IISADMIN", true);
        services.add_service("W3SVC", true, {"IISADMIN"});
        services.add_service("FTPSVC", true, {"IISADMIN"});
    }
};

}  // namespace certheal::test
