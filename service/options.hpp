#pragma once
// What a parsed command line asks for (argument_parsing.hpp's parse_arguments makes it): the
// value the commands read, apart from the parsing so that the commands do not depend on it.

#include <filesystem>
#include <optional>
#include <string>

#include "core/base/clock.hpp"

namespace certheal::cli {

struct Options {
    std::string command;  // one of command_table()'s names
    std::optional<std::filesystem::path> config;
    std::optional<std::string> site;
    std::optional<std::string> since;     // history: a duration back or an RFC 3339 time (parse_since)
    std::optional<std::string> incident;  // history
    std::optional<Duration> pause_for;    // pause: how long; none: until certheal unpause
    std::optional<std::string> reason;    // pause: why, for the events and status
    bool json = false;
    bool console = false;
    bool dry_run = false;  // repair
    bool force = false;    // repair
    bool wide = false;     // status: every column, whole times
    bool follow = false;   // history: wait for new events until Ctrl+C
    bool msi_postinstall = false;  // install: only what the MSI cannot set (service/win/install.hpp)
    bool help = false;
    bool version = false;
};

}  // namespace certheal::cli
