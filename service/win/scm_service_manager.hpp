#pragma once
// ServiceManager on the Windows Service Control Manager.
//
// Dependencies are read from the registry (HKLM\SYSTEM\CurrentControlSet\Services\<name>,
// values DependOnService and DependOnGroup), which CreateServiceW and MSI installs write on
// Windows and Wine alike. That is also what Wine needs: its EnumDependentServicesW is a stub and
// its QueryServiceConfigW reports no dependencies. certheal starts a service's dependencies
// itself and stops dependents itself, so the ordering does not rely on the SCM either.

#include <string>
#include <vector>

#include "core/model/ports.hpp"

namespace certheal::win {

class ScmServiceManager final : public ServiceManager {
public:
    // Stops the active dependents (transitively, dependents first), then `service`. Waits
    // for each to reach STOPPED, pacing its polls by the service's wait hint.
    Result<std::vector<std::string>> stop_service(const std::string& service, bool with_dependents,
                                                  Duration timeout, std::stop_token cancel) override;

    // Starts the dependencies named in the service's DependOnService value (recursively),
    // then the service, waiting for each to reach RUNNING.
    Result<Done> start_service(const std::string& service, Duration timeout, std::stop_token cancel) override;
};

// The services `service` depends on directly (its DependOnService value). Empty when it has
// none; a Failure when its registry key cannot be read (1060 when it does not exist).
Result<std::vector<std::string>> service_dependencies(const std::string& service);

// The services that depend on `service`, directly or through others, and are not stopped,
// in an order safe for stopping: every service comes before the ones it depends on.
Result<std::vector<std::string>> active_dependents_in_stop_order(const std::string& service);

}  // namespace certheal::win
