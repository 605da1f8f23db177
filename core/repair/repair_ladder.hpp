#pragma once
// The repair ladder: least disruption first, with a proof after every stage.
//
// remediation.stages are tried in order for one incident. A stage whose `when` does not match
// the incident's class and cause is skipped (stage_skipped says why). A stage that runs
// (stage_started) runs its steps through the Workflow and then its own verify, which probes the
// incident's sites: healthy, and the ladder stops there (stage_succeeded; the more disruptive
// stages after it never run); not healthy, or a step failed, and the next stage runs
// (stage_failed). The repair succeeds when a stage healed the sites and fails when none did.
// Dependents a stage stopped and did not start again are handed to the next stage, so its
// restore_dependents can still bring them back. A cancel ends the ladder: no further stage.
//
// remediation.steps (no stages) is one list of steps run exactly as before ladders: no stage
// events, no verify beyond the verify steps it lists.
//
// Dry run: every stage that matches writes stage_started (dry_run: true) and its steps' "would
// run" events; skipped stages write stage_skipped. Nothing is verified, so no stage_succeeded or
// stage_failed: the ladder is shown whole. plan_ladder says the same without running anything.
//
// The stage's verify: `verify` of the stage, else remediation.verify (by default a verify step's
// defaults: 5 rounds, 10 s apart). Its timeout covers every round: attempts x (the longest site
// timeout + delay).
//
// Re-entrancy and threads as the Workflow: single-threaded on the monitor's thread; `done` runs
// at most once per start() and may destroy the RepairLadder; destroying a running ladder
// abandons it without calling `done`.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model/config_model.hpp"
#include "core/model/probe_result.hpp"
#include "core/model/trust_cause.hpp"
#include "core/repair/workflow.hpp"

namespace certheal {

// What a stage's `when` is matched against.
struct IncidentFacts {
    std::optional<ProbeClass> probe_class;    // the class of the probe that asked for the repair
    std::optional<TrustCause> cause;  // none: no host trust diagnosis named one (not Windows, or it failed)
};

// Nothing when `when` matches the incident; else a sentence fragment saying why not ("its when
// lists the classes client_cert_rejected and the incident's class is revocation_unavailable").
std::optional<std::string> stage_mismatch(const StageCondition& when, const IncidentFacts& facts);

nlohmann::json condition_json(const StageCondition& when);  // {"class": [...], "cause": [...]}

// The steps a stage runs: its own, then its verify (with the timeout that covers every round).
std::vector<Step> stage_steps(const RepairStage& stage, const VerifyStep& default_verify,
                              const std::vector<SiteConfig>& sites);

// What the ladder would do for an incident, without running anything.
struct StagePlan {
    std::size_t number = 0;  // 1-based
    std::string name;
    bool runs = true;          // false: skipped, its `when` does not match
    std::string skip_reason;   // why it is skipped
    std::vector<std::string> steps;  // descriptions, the stage's verify last
};
std::vector<StagePlan> plan_ladder(const RemediationConfig& remediation, const IncidentFacts& facts,
                                   const std::vector<SiteConfig>& sites);
// One line per stage, for people: "stage 1 of 3 \"trust\": runs fix_root_store ..., then verify ...".
std::vector<std::string> ladder_plan_lines(const std::vector<StagePlan>& plan);
nlohmann::json ladder_plan_json(const std::vector<StagePlan>& plan);

class RepairLadder {
public:
    struct StageResult {
        enum class State { skipped, healed, not_healed, step_failed, cancelled, dry_run };
        std::string name;
        State state = State::skipped;
        std::string reason;  // skipped: why; not_healed / step_failed: the error
    };

    struct Outcome {
        bool succeeded = false;  // a stage healed the sites (steps: every step ran; dry run: the ladder was shown)
        bool cancelled = false;
        bool verified = false;   // the sites were seen healthy within the repair
        std::optional<std::string> stage;         // the stage after which the sites were healthy
        std::optional<std::size_t> stage_number;  // 1-based
        std::size_t stages_run = 0;   // stages whose steps ran; skipped ones do not count
        std::size_t stage_count = 0;  // the ladder's stages; 0 for remediation.steps
        std::optional<std::size_t> failed_step;  // remediation.steps: 0-based index of the step that failed
        std::string error;  // a sentence: why it failed or was cancelled
        Duration duration{};
        std::vector<StageResult> stages;  // every stage, in order
        bool ladder() const noexcept { return stage_count > 0; }
    };

    explicit RepairLadder(WorkflowPorts ports);
    ~RepairLadder();
    RepairLadder(const RepairLadder&) = delete;
    RepairLadder& operator=(const RepairLadder&) = delete;

    // Starts the repair of one incident. Throws std::logic_error when one is already running.
    void start(const RemediationConfig& remediation, std::string incident, IncidentFacts facts,
               std::vector<SiteConfig> sites, bool dry_run, std::function<void(Outcome)> done);

    // As Workflow::cancel: the current step is asked to stop, no further step or stage starts.
    void cancel();
    bool running() const;

private:
    class Execution;
    WorkflowPorts ports_;
    CurrentExecution<Execution> execution_;
};

}  // namespace certheal
