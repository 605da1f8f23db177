#pragma once
// The sentences people read about repair steps, built from the steps and what they did. The
// workflow and the ladder find the facts; the words are here, once.

#include "core/base/clock.hpp"
#include "core/model/config_model.hpp"
#include "core/model/ports.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace certheal {

// One line for people, e.g. "stop_service IISADMIN with dependents".
std::string describe_step(const Step& step);

// --- a step event's message ------------------------------------------------------------------

// Where a step stands: in the repair's one list of steps, or in a stage of a ladder.
struct StepPlace {
    std::size_t number = 0;  // 1-based
    std::size_t count = 0;
    std::string kind;        // step_kind of the step
    struct Stage {
        std::size_t number = 0;  // 1-based
        std::size_t count = 0;
    };
    std::optional<Stage> stage;
    bool stage_verify = false;  // the step is the verify the stage ends with
};

// "Repair step 2 of 4 (run)", "Step 1 of 3 of stage 2 of 3 (trust_ca)": the step's own words
// (its program, its store) are in the fields description and error, which can be long.
std::string step_label(const StepPlace& place);

// "Repair step 2 of 4 (run) succeeded."
std::string step_succeeded_message(const StepPlace& place);

// How a step failed, as far as its event's message tells.
struct StepFailureFacts {
    StepPlace place;
    std::optional<int> exit_code;  // a program's; said when not 0
    bool dry_run = false;
    bool stopping = false;    // certheal was asked to stop meanwhile
    bool with_output = false; // the event carries what the program printed
};

// "Repair step 2 of 4 (run) failed: the program exited with code 3. The repair stopped here; ..."
std::string step_failed_message(const StepFailureFacts& facts);

// "Dry run: repair step 1 of 2 (run) would run; certheal changed nothing."
std::string dry_run_step_message(const StepPlace& place);

// --- what ended the workflow (its Outcome's error) -------------------------------------------

// "Step 2 (run /bin/x) failed: <the step's sentence>"; `index` is 0-based.
std::string step_failed_error(std::size_t index, const Step& step, const std::string& summary);

// Where the workflow was when certheal cancelled it.
struct WorkflowCancelledFacts {
    std::string incident;
    enum class When { after_last_step, during_step, before_step } when = When::after_last_step;
    std::size_t index = 0;     // 0-based, of the step it was in or about to start
    std::optional<Step> step;  // that step (none: after the last one)
};
std::string workflow_cancelled_error(const WorkflowCancelledFacts& facts);

// What a step was doing when the call it made failed, to go before the cause (with_cause):
// "certheal could not stop the service W3SVC". Empty for verify and restore_dependents, whose
// failures are sentences of their own.
std::string step_failure_clause(const Step& step);

// "stage 2 of 3 (restart IIS)".
std::string stage_title(std::size_t number, std::size_t count, const std::string& name);

// Where a ladder was when certheal cancelled it: before a stage (its stage_title), or after the last.
std::string ladder_cancelled_error(const std::string& incident, const std::optional<std::string>& before_stage);

// --- a ladder's stage events ----------------------------------------------------------------

// Where a stage stands in its ladder. Its name (from the config, of any length) is the events'
// field `stage`, not part of these sentences.
struct StagePosition {
    std::size_t number = 0;  // 1-based
    std::size_t count = 0;
    bool last() const noexcept { return number >= count; }
};

// "Stage 2 of 3 was skipped: its `when` does not match the incident (see reason)."
std::string stage_skipped_message(const StagePosition& stage, bool dry_run);

// "Stage 1 of 3 started: 2 steps, then a probe of the sites; the next stage follows if they are
// not healthy." (a dry run: "Dry run: Stage 1 of 3 would run: ...")
std::string stage_started_message(const StagePosition& stage, bool dry_run, std::size_t step_count);

// "The sites were healthy after stage 1 of 3; the more disruptive stages after it did not run."
std::string stage_succeeded_message(const StagePosition& stage);

// How a stage failed: its verify saw the sites still unhealthy (not_healed), or a step failed.
struct StageFailureFacts {
    StagePosition stage;
    bool not_healed = false;
    std::size_t failed_step = 1;  // 1-based; said when the stage did not reach its verify
};
// "Stage 1 of 3 failed at step 2. certheal goes on with the next stage."
std::string stage_failed_message(const StageFailureFacts& facts);

// A step interrupted before it produced a result of its own.
std::string step_cancelled_summary();

// --- run -------------------------------------------------------------------------------------

// A program that ran (or was killed): `program` is its file name.
struct RunFacts {
    std::string program;
    ProcessOutcome outcome;
    Duration timeout{};
};
// "sleep exited with code 0", "... was stopped because certheal is stopping; ...", "... did not
// finish within its timeout of 5s, ...": a sentence for a failure, a fragment for a success.
std::string run_summary(const RunFacts& facts);

// --- services --------------------------------------------------------------------------------

std::string service_stopped_summary(const std::string& service, const std::vector<std::string>& dependents);
std::string service_started_summary(const std::string& service);

// restore_dependents.
std::string nothing_to_restore_summary();
std::string restore_not_attempted(const std::string& service, Duration timeout);
std::string restore_failed(const std::string& service, const std::string& cause);
std::string restore_failed_summary(const std::vector<std::string>& failures, const std::vector<std::string>& restored);
std::string restored_summary(const std::vector<std::string>& restored);

// --- trust_ca into a store or bundle, fix_root_store --------------------------------------------

// Certificates are named as certificates_text in core/repair/host_trust_steps says them:
// "CN=Lab CA (SHA-1 ab12...)", as a list.
struct TrustCaFacts {
    std::string target;           // "LocalMachine\\Root" or the bundle's path
    std::string present;          // the certificates already there, named
    std::size_t present_count = 0;
    std::string missing;          // the ones added (or to add), named
    bool nothing_missing = false;
    bool changed = false;
    std::uint64_t hard_links = 1; // the bundle's names
};
std::string trust_ca_would(const TrustCaFacts& facts);
std::string trust_ca_summary(const TrustCaFacts& facts);

struct RootStoreFacts {
    std::string move_to;
    std::string moved;  // the certificates moved (or to move), named
    bool nothing_to_move = false;
    bool changed = false;
};
std::string fix_root_store_would(const RootStoreFacts& facts);
std::string fix_root_store_summary(const RootStoreFacts& facts);

// --- verify ----------------------------------------------------------------------------------

std::string no_site_to_verify_summary();

// One site that was not healthy: "www (handshake_failed, HTTP 403)".
std::string unhealthy_site(const std::string& site, std::string_view probe_class, std::optional<int> status);

struct VerifyFacts {
    int round = 0;      // rounds started
    int attempts = 0;
    std::vector<std::string> unhealthy;  // unhealthy_site of each
    bool stage_verify = false;
    Duration timeout{};
};
std::string verify_healthy_summary(const VerifyFacts& facts);
std::string verify_unhealthy_summary(const VerifyFacts& facts);
std::string verify_timed_out_summary(const VerifyFacts& facts);

}  // namespace certheal
