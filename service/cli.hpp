#pragma once
// The command line of INTERFACE.md: parsing and the commands that are the same on every
// platform. Exit codes: 0 ok, 1 a probe found a site unhealthy, 2 bad usage or invalid
// config, 3 runtime failure.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace certheal::cli {

enum ExitCode : int { ok = 0, unhealthy = 1, usage = 2, runtime_failure = 3 };

struct Options {
    std::string command;                        // check-config, probe, run, history, status, repair, resume, install, uninstall
    std::optional<std::filesystem::path> config;
    std::optional<std::string> site;
    std::optional<std::string> since;
    bool json = false;
    bool console = false;
    bool dry_run = false;  // repair
    bool force = false;    // repair
    bool help = false;
    bool version = false;
};

struct ParseOutcome {
    std::optional<Options> options;
    std::string error;  // a sentence for stderr when options is empty
};

ParseOutcome parse_arguments(const std::vector<std::string>& args);
std::string usage_text();
std::string command_help(const std::string& command);

// Runs a parsed command; returns the process exit code.
int dispatch(const Options& options);

}  // namespace certheal::cli
