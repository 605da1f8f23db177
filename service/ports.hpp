#pragma once
// The ports the monitor and a repair by hand both need, wired once from the config and the
// platform adapters: the worker pool, the prober, the saved state, the journal and the
// host-wide repair lock. `certheal run` (service/daemon.hpp) and `certheal repair`
// (service/operator_commands.cpp) build them here, so the two cannot drift apart.

#include <memory>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "core/policy/monitor.hpp"
#include "core/probe/https_prober.hpp"
#include "core/record/file_state_store.hpp"
#include "core/record/journal.hpp"
#include "core/repair/workflow.hpp"
#include "core/runtime/asio_runtime.hpp"
#include "service/platform.hpp"

namespace certheal {

class Ports {
public:
    // `adapters`, `io` and `clock` outlive the ports. `material`: the certificates and keys the
    // config's validation decoded, reused by the prober.
    Ports(const Config& config, boost::asio::io_context& io, Clock& clock, platform::Adapters& adapters,
          std::shared_ptr<TlsMaterialCache> material);
    Ports(const Ports&) = delete;
    Ports& operator=(const Ports&) = delete;

    // What the monitor and the repair workflow get, with `events` where they write.
    MonitorPorts monitor_ports(EventSink& events);
    WorkflowPorts workflow_ports(EventSink& events);

    platform::Adapters& adapters;
    Clock& clock;
    ThreadWorkerPool workers;
    HttpsProber prober;
    FileStateStore state;
    JournalSink journal;
    // A lock that cannot be made refuses every repair (RepairPolicy), said in the journal.
    std::unique_ptr<RepairLock> repair_lock;
};

std::unique_ptr<Ports> wire_ports(const Config& config, boost::asio::io_context& io, Clock& clock,
                                  platform::Adapters& adapters, std::shared_ptr<TlsMaterialCache> material);

}  // namespace certheal
