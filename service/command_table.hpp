#pragma once
// One table (command_table) lists every command and its options: parsing, the help texts, the
// usage lines of errors and "did you mean" all read it, and tests/cli_docs_check.sh checks the
// man page (docs/certheal.1) and the bash completion (installer/certheal.bash-completion)
// against what `certheal --help` prints from it.

#include <string>
#include <string_view>
#include <vector>

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
const FlagSpec* find_flag(const CommandSpec& command, std::string_view name);
// The options a typo of this command may have meant: its flags but the hidden ones, and --help.
std::vector<std::string> visible_flag_names(const CommandSpec& command);

}  // namespace certheal::cli
