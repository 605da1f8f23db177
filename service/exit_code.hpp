#pragma once
// The exit codes of every certheal command (docs/commands.md): 0 ok, 1 a probe found a site
// unhealthy, 2 bad usage or invalid config, 3 runtime failure. Apart from the command line
// (cli.hpp) so that the composition root and the commands return them without depending on it.

namespace certheal::cli {

enum ExitCode : int { ok = 0, unhealthy = 1, usage = 2, runtime_failure = 3 };

}  // namespace certheal::cli
