#pragma once
// The command line of docs/commands.md: parsing and the commands that are the same on every
// platform. Exit codes: 0 ok, 1 a probe found a site unhealthy, 2 bad usage or invalid
// config, 3 runtime failure.
//
// One table (command_table) lists every command and its options: parsing, the help texts, the
// usage lines of errors and "did you mean" all read it, and tests/cli_docs_check.sh checks the
// man page (docs/certheal.1) and the bash completion (installer/certheal.bash-completion)
// against what `certheal --help` prints from it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/clock.hpp"
#include "service/exit_code.hpp"
#include "service/options.hpp"

namespace certheal::cli {

struct FlagSpec {
    std::string_view name;   // "--site"
    std::string_view value;  // "NAME"; empty for a switch
    std::string_view help;   // one line for `certheal <command> --help`
    bool hidden = false;     // for the installer only: not in help, man page or completion
};

struct CommandSpec {
    std::string_view name;
    std::string_view summary;  // one line in `certheal --help`
    std::vector<FlagSpec> flags;
    std::string_view details;  // `certheal <command> --help` after the usage line: paragraphs, one per
                               // line, wrapped to 80 columns when shown
};

const std::vector<CommandSpec>& command_table();
const CommandSpec* find_command(std::string_view name);

struct ParseOutcome {
    std::optional<Options> options;
    std::string error;  // a sentence for stderr when options is empty
    std::string usage;  // printed after the error: the command's usage line, or the command list
};

ParseOutcome parse_arguments(const std::vector<std::string>& args);
std::string usage_text();                            // `certheal --help`
std::string command_help(const std::string& command);  // `certheal <command> --help`
std::string command_usage(const CommandSpec& command);  // "usage: certheal probe [--config FILE] ..."

// Edit distance for "did you mean": insert, delete, substitute and swap two neighbours cost 1
// each (optimal string alignment).
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidates a typo most likely meant: the nearest within a distance that grows with the
// word's length (1 up to 4 characters, 2 up to 8, then 3; leading dashes do not count), a
// candidate the word begins (3 characters or more) counting as 1. All that are equally near,
// in the candidates' order; none when nothing is near enough.
std::vector<std::string> closest_matches(std::string_view word, const std::vector<std::string>& candidates);

// A span with days allowed: "7d", "1d12h", "90m", "2h30m" (at most 100 years); nullopt when it
// is not one. `pause --for` and `history --since` read it.
std::optional<Duration> parse_span(std::string_view text);

// `history --since`: "30m", "24h", "7d", "1d12h" back from `now`, or an RFC 3339 time
// ("2026-12-01T00:00Z", "2026-12-01" for midnight UTC). nullopt when it is neither.
std::optional<TimePoint> parse_since(std::string_view text, TimePoint now);

// Runs a parsed command; returns the process exit code.
int dispatch(const Options& options);

}  // namespace certheal::cli
