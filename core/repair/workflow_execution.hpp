#pragma once
// Workflow::Execution, shared by the workflow's files and internal to them:
//   workflow.cpp           sequencing, events, the Workflow itself;
//   workflow_services.cpp  run, stop_service, start_service, restore_dependents;
//   workflow_trust.cpp     trust_ca, fix_root_store, add_intermediates, set_schannel;
//   workflow_verify.cpp    verify.
// The sentences each step's report says are built in core/describe/step_sentences.

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/describe/step_sentences.hpp"
#include "core/repair/certificate_trust.hpp"
#include "core/repair/host_trust_steps.hpp"
#include "core/repair/workflow.hpp"

namespace certheal {
namespace workflow_detail {

// Work for the pool must not throw across threads; a port that throws is reported as a failure.
template <class T, class Call>
Result<T> guarded(Call&& call) {
    try {
        return call();
    } catch (const std::exception& error) {
        return Failure{std::make_error_code(std::errc::state_not_recoverable),
                       std::string("The call failed unexpectedly: ") + error.what()};
    }
}

}  // namespace workflow_detail

// One start() of the workflow. Callbacks hold it weakly: when the owner destroys the Workflow,
// late completions find nothing and do nothing.
class Workflow::Execution : public std::enable_shared_from_this<Workflow::Execution> {
public:
    Execution(WorkflowPorts ports, Request request, std::function<void(Outcome)> done);

    bool finished() const { return finished_; }
    void begin();
    void cancel();
    // The owner is gone: stop the current call and never report.
    void abandon();

private:
    struct StepReport {
        std::string summary;                // success: what happened; failure: the error sentence
        std::optional<std::error_code> code;
        std::optional<int> exit_code;
        std::optional<std::pair<std::string, std::string>> output;  // stdout, stderr tails
        std::optional<std::vector<std::string>> services;
        nlohmann::json extra = nlohmann::json::object();
    };

    const Step& step() const { return steps_[index_]; }
    Duration since(MonotonicTime start) const {
        return std::chrono::duration_cast<Duration>(ports_.clock.monotonic_now() - start);
    }
    std::weak_ptr<Execution> weak() { return weak_from_this(); }

    // --- sequencing (workflow.cpp)
    void next_step();
    void step_succeeded(const StepReport& report);
    void step_failed(StepReport report);
    void step_ended_by_cancel();
    void finish_cancelled(std::optional<std::size_t> during_step);
    void finish(Outcome outcome);

    // --- events (workflow.cpp)
    Event step_event(EventId id) const;
    bool is_stage_verify() const { return stage_ && stage_->ends_with_stage_verify && index_ + 1 == steps_.size(); }
    StepPlace step_place() const;
    void emit_step(EventId id, const StepReport& report);
    void emit_dry_run_step(const std::string& would = {}, const nlohmann::json& extra = nlohmann::json::object());
    static bool inspected_in_dry_run(const StepAction& action);
    void dry_run_inspected(const std::string& would, const nlohmann::json& extra);
    // A call the step made failed: what the step was doing, and why.
    void call_failed(const Failure& failure);

    // --- run, services, restore_dependents (workflow_services.cpp)
    void begin_step(const RunStep& run);
    void run_returned(Result<ProcessOutcome> result);
    void begin_step(const StopServiceStep& stop);
    void stop_returned(Result<std::vector<std::string>> result);
    void begin_step(const StartServiceStep& start);
    void start_returned(const Result<Done>& result);
    void begin_step(const RestoreDependentsStep&);
    void restore_next();
    void restore_returned(const std::string& service, const Result<Done>& result);
    void restore_finished();

    // --- trust_ca, fix_root_store, add_intermediates, set_schannel (workflow_trust.cpp)
    void begin_step(const TrustCaStep& trust);
    void trust_ca_returned(Result<TrustCaReport> result);
    void begin_step(const FixRootStoreStep& fix);
    void fix_root_store_returned(Result<RootStoreReport> result);
    template <class Report, class Call>
    void begin_host_step(Call call, StepStory (*tell)(const Report&, bool));
    void host_step_returned(const std::variant<StepStory, Failure>& told);
    void begin_trust_ca_auto(const TrustCaStep& trust);
    void begin_step(const AddIntermediatesStep& intermediates);
    void begin_step(const SetSchannelStep& schannel);

    // --- verify (workflow_verify.cpp)
    void begin_step(const VerifyStep& verify);
    void start_verify_round();
    void probe_returned(std::uint64_t generation, std::size_t site, ProbeResult result);
    void verify_timed_out();
    nlohmann::json round_evidence() const;

    WorkflowPorts ports_;
    std::vector<Step> steps_;
    std::string incident_;
    std::vector<SiteConfig> sites_;
    bool dry_run_;
    std::optional<StagePlace> stage_;
    std::function<void(Outcome)> done_;

    std::stop_source stop_;
    bool cancel_requested_ = false;
    bool finished_ = false;
    std::size_t index_ = 0;
    MonotonicTime started_at_{};
    MonotonicTime step_started_at_{};

    std::vector<std::string> stopped_dependents_;  // in stop order, not yet started again
    std::vector<std::string> restore_queue_;
    std::vector<std::string> restored_;
    std::vector<std::string> restore_failures_;
    std::optional<std::error_code> restore_first_code_;

    bool verified_ = false;
    int verify_round_ = 0;
    int verify_attempts_ = 1;
    std::uint64_t verify_generation_ = 0;
    std::size_t verify_pending_ = 0;
    std::vector<ProbeResult> verify_results_;
    bool waiting_between_rounds_ = false;
    std::unique_ptr<TimerHandle> verify_delay_;
    std::unique_ptr<TimerHandle> verify_deadline_;
};

}  // namespace certheal
