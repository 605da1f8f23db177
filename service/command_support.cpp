#include "service/command_support.hpp"

#include <iostream>

#include "core/base/text.hpp"
#include "service/platform.hpp"
#include "service/start_checks.hpp"

namespace certheal::cli {

std::filesystem::path config_path_of(const Options& options) {
    return options.config ? *options.config : platform::default_config_path();
}

std::optional<Config> load_config_or_report(const Options& options, std::shared_ptr<TlsMaterialCache> material) {
    auto context = platform::config_context();
    context.tls_material = std::move(material);
    auto loaded = load_config(config_path_of(options), context);
    for (const auto& issue : loaded.issues) std::cerr << format_issue(issue) << '\n';
    return std::move(loaded.config);
}

// The steps run with full privileges: the same start checks as `certheal run`.
bool refuse_unprotected_config(const Options& options, const Config& config, const std::string& command) {
    const auto problems = start_problems(config_path_of(options), config);
    for (const auto& problem : problems) std::cerr << "certheal " << command << " refused to run: " << problem.sentence << '\n';
    return !problems.empty();
}

std::string join_site_names(const std::vector<SiteConfig>& sites) {
    return join(sites, ", ", [](const SiteConfig& site) { return site.name; });
}

// The files these commands write as root go into the state folder: the same rule as `run`.
bool refuse_unprotected_state_folder(const Config& config, const std::string& command) {
    const auto problem = platform::folder_protection_problem(config.service.state_dir, "the state folder");
    if (!problem) return false;
    std::cerr << "certheal " << command << " refused to run: " << *problem
              << ". certheal writes its journal and state there with full privileges, so only administrators may be "
                 "able to change that folder. Fix its owner and permissions, or choose another service.state_dir.\n";
    return true;
}

}  // namespace certheal::cli
