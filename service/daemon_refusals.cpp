#include "service/daemon_refusals.hpp"

#include <iostream>

#include "core/base/text.hpp"
#include "service/exit_code.hpp"

namespace certheal {
namespace {

// Every refusal over the configuration is one event shape: config_invalid, a sentence, and
// the facts it names as details.
Event config_refusal(TimePoint now, std::string message, nlohmann::json details) {
    Event event;
    event.id = EventId::config_invalid;
    event.time = now;
    event.message = std::move(message);
    event.details = std::move(details);
    return event;
}

}  // namespace

Event config_invalid_event(const std::filesystem::path& path, const std::vector<ConfigIssue>& issues,
                           TimePoint now, const std::string& consequence) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& issue : issues) {
        if (issue.level != ConfigIssue::Level::error) continue;
        errors.push_back(format_issue(issue));
    }
    // The errors are a field (and were printed one per line): the sentence stays short.
    return config_refusal(now,
                          "The configuration has " + std::to_string(errors.size()) +
                              (errors.size() == 1 ? " error; " : " errors; ") + consequence + " Fix each one (errors).",
                          {{"config", path.string()}, {"errors", errors}});
}

std::optional<Event> write_protection_refusal(const std::filesystem::path& path, bool allowed,
                                              const std::string& what, TimePoint now) {
    const auto problem = platform::config_write_protection_problem(path);
    if (!problem || allowed) return std::nullopt;
    const std::string message = what + ": " + *problem +
                    ". The configuration decides which programs run with full privileges, so only administrators "
                    "may be able to change it. Restrict its permissions, or set service.allow_insecure_config_acl to "
                    "true if you accept the risk.";
    return config_refusal(now, message, {{"config", path.string()}, {"problem", *problem}});
}

std::optional<Event> folder_refusal(const Config& config, const std::string& what, TimePoint now) {
    std::vector<std::pair<std::string, std::filesystem::path>> folders = {
        {"the state folder", config.service.state_dir}};
    if (config.service.textfile_dir) folders.emplace_back("the textfile folder", *config.service.textfile_dir);
    for (const auto& [name, folder] : folders) {
        const auto problem = platform::folder_protection_problem(folder, name);
        if (!problem) continue;
        return config_refusal(
            now,
            what + ": " + *problem +
                ". certheal writes its journal, state and metrics there with full privileges, so only "
                "administrators may be able to change that folder. Fix its owner and permissions, or choose "
                "another " + std::string(name == "the state folder" ? "service.state_dir" : "service.textfile_dir") + ".",
            {{"path", folder.string()}, {"problem", *problem}});
    }
    return std::nullopt;
}

std::optional<int> claim_state_folder(const Config& config, EventSink& system_log, platform::StateFolderLock& lock,
                                      TimePoint now) {
    const std::filesystem::path state_dir = config.service.state_dir;
    const auto refuse = [&](Event event, int exit_code) {
        event.time = now;
        system_log.emit(event);
        std::cerr << event.message << '\n';
        return exit_code;
    };
    std::error_code dir_error;
    std::filesystem::create_directories(state_dir, dir_error);
    if (dir_error) {
        Event event;
        event.id = EventId::storage_failed;
        event.message = "certheal did not start: it could not create its state folder " + state_dir.string() + ": " +
                        dir_error.message() + ". Fix the path or its parent's permissions (service.state_dir).";
        event.details = {{"what", "state folder"}, {"path", state_dir.string()}, {"error", dir_error.message()}};
        return refuse(std::move(event), cli::runtime_failure);
    }
    if (auto refusal = folder_refusal(config, "certheal refused to start", now)) return refuse(std::move(*refusal), cli::usage);
    auto taken = platform::lock_state_folder(state_dir);
    if (!taken || taken.value().running_pid) {
        Event event;
        event.id = EventId::storage_failed;
        event.message =
            taken ? "certheal did not start: certheal is already running (" +
                        (*taken.value().running_pid > 0 ? "pid " + std::to_string(*taken.value().running_pid)
                                                         : std::string("its pid could not be read")) +
                        ") with the state folder " + state_dir.string() +
                        "; one certheal runs per state folder. Stop that one first, or give this one another "
                        "service.state_dir."
                  : "certheal did not start: " + as_clause(taken.error().message) +
                        ". It takes a lock on its state folder so that only one certheal uses it.";
        event.details = {{"what", "state folder lock"}, {"path", (state_dir / "certheal.pid").string()}};
        if (taken) event.details["running_pid"] = *taken.value().running_pid;
        return refuse(std::move(event), cli::runtime_failure);
    }
    lock = std::move(taken.value());
    // No other certheal writes here now: what is left of a rewrite is a killed one's.
    platform::remove_leftover_temporaries(state_dir);
    if (config.service.textfile_dir) platform::remove_leftover_temporaries(*config.service.textfile_dir);
    return std::nullopt;
}

}  // namespace certheal
