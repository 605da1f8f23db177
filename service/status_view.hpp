#pragma once
// `certheal status` for people and scripts: the verdict behind its exit code, and the text,
// 80 columns wide by default. Both read the report that command_status assembles:
//   {"state_dir", "config_valid", "service": {"running", "pid", "found_by"},
//    "status": <status.json or null>, "state": <state.json or null>,
//    "configured_remediation": {"mode", ...} or null, "host_warnings": [...], "problems": [...]}

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/clock.hpp"

namespace certheal::cli {

enum class Health { healthy, unhealthy, unknown };

struct StatusVerdict {
    Health health = Health::unknown;
    std::vector<std::string> unhealthy_sites;
    std::size_t sites = 0;
    std::string reason;  // why it cannot tell, when unknown
};

// healthy: the service runs, its status is its own (same pid) and every site's class is
// healthy; unhealthy: a site's is not; unknown otherwise (not running, no status yet, a site
// not probed yet).
StatusVerdict judge_status(const nlohmann::json& report);
int exit_code_of(const StatusVerdict& verdict);  // 0, 1, 3
std::string to_string(Health health);            // "healthy" | "unhealthy" | "unknown"

// The text `certheal status` prints. `wide`: every column, whole times, no wrapping.
std::string render_status(const nlohmann::json& report, const StatusVerdict& verdict, TimePoint now, bool wide);

// "45s", "12m", "3h12m", "5d3h": how long ago, or how long ahead, for a column.
std::string format_age(Duration duration);

}  // namespace certheal::cli
