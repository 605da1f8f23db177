#include "service/ports.hpp"

namespace certheal {
namespace {

ProberOptions prober_options_of(const Config& config) {
    ProberOptions options;
    options.max_in_flight = config.service.max_concurrent_probes;
    return options;
}

}  // namespace

Ports::Ports(const Config& config, boost::asio::io_context& io, Clock& clock_port, platform::Adapters& platform_adapters,
             std::shared_ptr<TlsMaterialCache> material)
    : adapters(platform_adapters),
      clock(clock_port),
      workers(io, 2),
      prober(io, prober_options_of(config), adapters.certificate_stores.get(), std::move(material),
             adapters.client_identities.get(), &clock_port),
      state(config.service.state_dir, *adapters.own_files, platform::make_state_lock(config.service.state_dir)),
      journal(config.service.state_dir, *adapters.own_files),
      repair_lock(platform::make_repair_lock(config.service.state_dir)) {}

MonitorPorts Ports::monitor_ports(EventSink& events) {
    return MonitorPorts{clock,
                        prober,
                        *adapters.services,
                        *adapters.processes,
                        workers,
                        state,
                        events,
                        *adapters.certificate_stores,
                        *adapters.files,
                        repair_lock.get(),
                        adapters.host_trust.get(),
                        adapters.schannel.get(),
                        adapters.binding_trust.get(),
                        adapters.client_identities.get()};
}

WorkflowPorts Ports::workflow_ports(EventSink& events) {
    return WorkflowPorts{*adapters.services,          *adapters.processes, workers, prober, clock, events,
                         *adapters.certificate_stores, *adapters.files,     adapters.schannel.get(),
                         adapters.binding_trust.get()};
}

std::unique_ptr<Ports> wire_ports(const Config& config, boost::asio::io_context& io, Clock& clock,
                                  platform::Adapters& adapters, std::shared_ptr<TlsMaterialCache> material) {
    return std::make_unique<Ports>(config, io, clock, adapters, std::move(material));
}

}  // namespace certheal
