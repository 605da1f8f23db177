#pragma once
// The details of the repair events that the monitor and `certheal repair` (a repair by hand)
// both write: repair_started, repair_succeeded after a ladder stage, repair_failed. Each writer
// adds its own fields and its own sentence; the fields they share are built here, once, so that
// both records of a repair say the same.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model/config_model.hpp"
#include "core/repair/repair_ladder.hpp"

namespace certheal {

// remediation.steps, one line for people each (describe_step).
nlohmann::json repair_steps_json(const RemediationConfig& remediation);

// repair_started: the sites (their names), the steps, whether it is a dry run, the attempts in the
// window, and for a ladder its plan.
nlohmann::json repair_started_details(nlohmann::json site_names, const RemediationConfig& remediation,
                                      const std::vector<StagePlan>& plan, bool dry_run, int attempts_in_window);

// How long the repair took, in milliseconds (none ran: 0).
std::int64_t repair_duration_ms(const RepairLadder::Outcome* outcome);

// repair_succeeded after a ladder stage healed the sites: which stage, of how many.
nlohmann::json ladder_succeeded_details(const RepairLadder::Outcome& outcome, int attempts_in_window);

// repair_failed: the step that failed (1-based), `error`, whether it was cancelled. `outcome`:
// none when the repair did not finish.
nlohmann::json repair_failed_details(const RepairLadder::Outcome* outcome, const std::string& error,
                                     int attempts_in_window);

}  // namespace certheal
