#pragma once
// Why `certheal run` does not start, or does not take a reloaded configuration: the events
// that say so. Time comes from the daemon's clock (`now`).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/model/events.hpp"
#include "service/platform.hpp"

namespace certheal {

// config_invalid for a configuration that does not validate; `consequence` says what certheal
// does about it ("certheal did not start.").
Event config_invalid_event(const std::filesystem::path& path, const std::vector<ConfigIssue>& issues,
                           TimePoint now, const std::string& consequence);

// The config decides what runs with full privileges: a config others can change is refused,
// unless `allowed` (service.allow_insecure_config_acl of the config in force) says otherwise.
std::optional<Event> write_protection_refusal(const std::filesystem::path& path, bool allowed,
                                              const std::string& what, TimePoint now);

// certheal writes its journal, state, pid file and metrics with full privileges: into a folder
// that another account could change (put links or FIFOs in, swap), it does not write at all.
std::optional<Event> folder_refusal(const Config& config, const std::string& what, TimePoint now);

// The state folder before anything is written there: created, protected from other accounts,
// locked for this process (one certheal per state folder; `certheal status` and `resume` find
// the running one by this lock, its pid is in certheal.pid), and cleared of what a killed
// rewrite left. The exit code when certheal must not start; the reason is said on stderr and
// in the system log (the journal is another certheal's, or cannot be trusted).
std::optional<int> claim_state_folder(const Config& config, EventSink& system_log, platform::StateFolderLock& lock,
                                      TimePoint now);

}  // namespace certheal
