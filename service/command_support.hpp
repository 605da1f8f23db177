#pragma once
// What the operator's commands (check-config, probe, diagnose, history, status, repair, resume,
// pause) share: where the config is, reading it with its issues on stderr, the refusals of the
// commands that act with full privileges, and where a command's events go.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/record/journal.hpp"
#include "service/console_echo.hpp"
#include "service/options.hpp"

namespace certheal::cli {

// --config, or the platform's default.
std::filesystem::path config_path_of(const Options& options);

// The config, its issues printed on stderr; `material` is shared with the prober, or none.
std::optional<Config> load_config_or_report(const Options& options,
                                            std::shared_ptr<TlsMaterialCache> material = nullptr);

// The steps run with full privileges: the same start checks as `certheal run`; true when refused
// (said on stderr).
bool refuse_unprotected_config(const Options& options, const Config& config, const std::string& command);

// The files these commands write as root go into the state folder: the same rule as `run`; true
// when refused (said on stderr).
bool refuse_unprotected_state_folder(const Config& config, const std::string& command);

std::string join_site_names(const std::vector<SiteConfig>& sites);

// Where an operator's command writes its events: the journal, the system log and the console,
// each marked "manual": true.
struct CommandEvents {
    CommandEvents(JournalSink& journal, EventSink& system_log) {
        all.add(journal);
        all.add(system_log);
        all.add(echo);
    }
    CommandEvents(const CommandEvents&) = delete;
    CommandEvents& operator=(const CommandEvents&) = delete;

    ConsoleEcho echo;
    FanOutSink all;
    ManualEventSink events{all};
};

}  // namespace certheal::cli
