#pragma once
// What `certheal run` checks before it starts, beyond the configuration's own validation: one
// list, so that `certheal check-config` (and `certheal repair`, which runs the same steps with
// the same privileges) refuse exactly what `run` refuses. A new start check goes here, never
// into one of the callers.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace certheal {

struct StartProblem {
    std::string sentence;  // what is wrong, why it matters and what to do, as whole sentences
    nlohmann::json details;  // for the config_invalid event
};

// Empty when `run` would start with this configuration.
std::vector<StartProblem> start_problems(const std::filesystem::path& config_path, const Config& config);

}  // namespace certheal
