#pragma once
// The operator's commands: `certheal repair` (the workflow now, by hand, under the host-wide
// repair lock and the budget), `certheal resume` (close the circuit, clear the budget: through
// the running service when there is one) and `certheal status` (the live status the service
// writes to status.json, and whether it runs).
// (repair_command.cpp holds `repair`, operator_commands.cpp the others.)

#include "core/base/clock.hpp"
#include "service/exit_code.hpp"
#include "service/options.hpp"

namespace certheal::cli {

int command_repair(const Options& options);
int command_resume(const Options& options);
int command_status(const Options& options, const Clock& clock);
// `certheal pause` / `unpause`: save the pause (or its end) in the state, say it, and tell the
// running service (it reads the state again).
int command_pause(const Options& options);
int command_unpause(const Options& options);

}  // namespace certheal::cli
