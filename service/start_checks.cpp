#include "service/start_checks.hpp"

#include "service/platform.hpp"

namespace certheal {

std::vector<StartProblem> start_problems(const std::filesystem::path& config_path, const Config& config) {
    std::vector<StartProblem> problems;
    // The config decides what runs with full privileges: a config others can change is refused,
    // unless service.allow_insecure_config_acl says the admin accepts that.
    if (const auto problem = platform::config_write_protection_problem(config_path);
        problem && !config.service.allow_insecure_config_acl) {
        problems.push_back(
            {*problem +
                 ". The configuration decides which programs run with full privileges, so only administrators may be "
                 "able to change it. Restrict its permissions, or set service.allow_insecure_config_acl to true if "
                 "you accept the risk.",
             {{"config", config_path.string()}, {"problem", *problem}}});
    }
    return problems;
}

}  // namespace certheal
