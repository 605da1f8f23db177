#include "core/repair/repair_details.hpp"

#include "core/describe/step_sentences.hpp"

#include <chrono>
#include <utility>

namespace certheal {

nlohmann::json repair_steps_json(const RemediationConfig& remediation) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : remediation.steps) steps.push_back(describe_step(step));
    return steps;
}

nlohmann::json repair_started_details(nlohmann::json site_names, const RemediationConfig& remediation,
                                      const std::vector<StagePlan>& plan, bool dry_run, int attempts_in_window) {
    nlohmann::json details = {{"sites", std::move(site_names)},
                              {"steps", repair_steps_json(remediation)},
                              {"dry_run", dry_run},
                              {"attempts_in_window", attempts_in_window}};
    if (!remediation.stages.empty()) details["stages"] = ladder_plan_json(plan);
    return details;
}

std::int64_t repair_duration_ms(const RepairLadder::Outcome* outcome) {
    if (outcome == nullptr) return 0;
    return std::chrono::duration_cast<std::chrono::milliseconds>(outcome->duration).count();
}

nlohmann::json ladder_succeeded_details(const RepairLadder::Outcome& outcome, int attempts_in_window) {
    return {{"duration_ms", repair_duration_ms(&outcome)},
            {"verified", true},
            {"stage", outcome.stage.value_or("")},
            {"stage_number", outcome.stage_number.value_or(0)},
            {"stages_run", outcome.stages_run},
            {"stages", outcome.stage_count},
            {"attempts_in_window", attempts_in_window}};
}

nlohmann::json repair_failed_details(const RepairLadder::Outcome* outcome, const std::string& error,
                                     int attempts_in_window) {
    const bool has_failed_step = outcome != nullptr && outcome->failed_step;
    return {{"duration_ms", repair_duration_ms(outcome)},
            {"failed_step", has_failed_step ? nlohmann::json(*outcome->failed_step + 1) : nlohmann::json(nullptr)},
            {"error", error},
            {"cancelled", outcome != nullptr && outcome->cancelled},
            {"attempts_in_window", attempts_in_window}};
}

}  // namespace certheal
