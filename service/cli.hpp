#pragma once
// The command line of docs/commands.md: parsing and the commands that are the same on every
// platform. Exit codes: 0 ok, 1 a probe found a site unhealthy, 2 bad usage or invalid
// config, 3 runtime failure.
//
// Its parts, each in its own file: the table of commands and options (command_table.hpp), the
// help texts read from it (command_help.hpp), parsing (argument_parsing.hpp), and the commands
// (check-config, probe and install here; history, diagnose and the operator's commands in
// files of their own). Only main.cpp includes this header, for the whole of it.

#include "service/argument_parsing.hpp"
#include "service/command_help.hpp"
#include "service/command_table.hpp"
#include "service/exit_code.hpp"
#include "service/options.hpp"

namespace certheal::cli {

// Runs a parsed command; returns the process exit code.
int dispatch(const Options& options);

}  // namespace certheal::cli
