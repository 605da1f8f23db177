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
    // certheal writes its journal, state, pid file and metrics into these folders with full
    // privileges: into one another account could change (links, FIFOs, swaps) it writes nothing.
    const auto check_folder = [&](const char* pointer, const std::filesystem::path& folder, const char* what,
                                  const char* key) {
        const auto problem = platform::folder_protection_problem(folder, what);
        if (!problem) return;
        problems.push_back({std::string(pointer) + ": " + *problem +
                                ". certheal writes there with full privileges, so only administrators may be able to "
                                "change that folder. Fix its owner and permissions, or choose another " +
                                key + ".",
                            {{"path", folder.string()}, {"problem", *problem}}});
    };
    check_folder("/service/state_dir", config.service.state_dir, "the state folder", "service.state_dir");
    if (config.service.textfile_dir) {
        check_folder("/service/textfile_dir", *config.service.textfile_dir, "the textfile folder",
                     "service.textfile_dir");
    }
    return problems;
}

}  // namespace certheal
