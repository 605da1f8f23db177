#include "service/run.hpp"

#include "service/daemon.hpp"

namespace certheal {

int run_monitor(const std::filesystem::path& config_path, MonitorHost& host) {
    Daemon daemon(config_path, host);
    return daemon.run();
}

}  // namespace certheal
