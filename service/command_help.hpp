#pragma once
// The help texts and usage lines of the command line, all read from command_table().

#include <string>

#include "service/command_table.hpp"

namespace certheal::cli {

std::string usage_text();                               // `certheal --help`
std::string command_help(const std::string& command);  // `certheal <command> --help`
std::string command_usage(const CommandSpec& command);  // "usage: certheal probe [--config FILE] ..."

// After an error about a command's options: its usage line and where to read more.
std::string short_usage(const CommandSpec& command);
// After an error about the command itself: the commands' names and where to read more.
std::string command_list_usage();

}  // namespace certheal::cli
