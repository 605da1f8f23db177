// The workflow's run, stop_service, start_service and restore_dependents steps.

#include "core/describe/step_sentences.hpp"
#include "core/repair/workflow_execution.hpp"

#include <algorithm>

namespace certheal {

using workflow_detail::guarded;

// --- run ------------------------------------------------------------------------------------

void Workflow::Execution::begin_step(const RunStep& run) {
    auto slot = std::make_shared<std::optional<Result<ProcessOutcome>>>();
    const auto timeout = step().timeout;
    ports_.workers.submit(
        [&runner = ports_.processes, program = run.program, args = run.args, timeout, token = stop_.get_token(),
         slot] { slot->emplace(guarded<ProcessOutcome>([&] { return runner.run(program, args, timeout, token); })); },
        [weak = weak(), slot] {
            if (auto self = weak.lock()) self->run_returned(std::move(**slot));
        });
}

void Workflow::Execution::run_returned(Result<ProcessOutcome> result) {
    if (finished_) return;
    if (!result) {
        call_failed(result.error());
        return;
    }
    const auto& run = std::get<RunStep>(step().action);
    const ProcessOutcome& outcome = result.value();
    StepReport report;
    report.summary = run_summary(RunFacts{run.program.filename().string(), outcome, step().timeout});
    report.output = std::make_pair(outcome.stdout_tail, outcome.stderr_tail);
    if (!outcome.left_running.empty()) report.extra["left_running"] = outcome.left_running;
    if (outcome.cancelled || outcome.timed_out) report.extra["killed_processes"] = outcome.killed;
    if (outcome.cancelled) {
        report.code = std::make_error_code(std::errc::operation_canceled);
        report.extra["cancelled"] = true;
        step_failed(std::move(report));
        return;
    }
    if (outcome.timed_out) {
        report.code = std::make_error_code(std::errc::timed_out);
        report.extra["timed_out"] = true;
        step_failed(std::move(report));
        return;
    }
    report.exit_code = outcome.exit_code;
    if (outcome.exit_code != 0) {
        step_failed(std::move(report));
        return;
    }
    step_succeeded(report);
}

// --- services -------------------------------------------------------------------------------

void Workflow::Execution::begin_step(const StopServiceStep& stop) {
    auto slot = std::make_shared<std::optional<Result<std::vector<std::string>>>>();
    ports_.workers.submit(
        [&services = ports_.services, service = stop.service, with = stop.with_dependents, timeout = step().timeout,
         token = stop_.get_token(), slot] {
            slot->emplace(guarded<std::vector<std::string>>(
                [&] { return services.stop_service(service, with, timeout, token); }));
        },
        [weak = weak(), slot] {
            if (auto self = weak.lock()) self->stop_returned(std::move(**slot));
        });
}

void Workflow::Execution::stop_returned(Result<std::vector<std::string>> result) {
    if (finished_) return;
    if (!result) {
        call_failed(result.error());
        return;
    }
    const auto& stop = std::get<StopServiceStep>(step().action);
    const auto& dependents = result.value();
    // Remembered across stop steps, in stop order, for restore_dependents.
    for (const auto& name : dependents) {
        if (std::find(stopped_dependents_.begin(), stopped_dependents_.end(), name) == stopped_dependents_.end()) {
            stopped_dependents_.push_back(name);
        }
    }
    StepReport report;
    report.services = dependents;
    report.summary = service_stopped_summary(stop.service, dependents);
    step_succeeded(report);
}

void Workflow::Execution::begin_step(const StartServiceStep& start) {
    auto slot = std::make_shared<std::optional<Result<Done>>>();
    ports_.workers.submit(
        [&services = ports_.services, service = start.service, timeout = step().timeout, token = stop_.get_token(),
         slot] { slot->emplace(guarded<Done>([&] { return services.start_service(service, timeout, token); })); },
        [weak = weak(), slot] {
            if (auto self = weak.lock()) self->start_returned(**slot);
        });
}

void Workflow::Execution::start_returned(const Result<Done>& result) {
    if (finished_) return;
    if (!result) {
        call_failed(result.error());
        return;
    }
    const auto& start = std::get<StartServiceStep>(step().action);
    StepReport report;
    report.services = std::vector<std::string>{start.service};
    report.summary = service_started_summary(start.service);
    step_succeeded(report);
}

// --- restore_dependents -----------------------------------------------------------------------

void Workflow::Execution::begin_step(const RestoreDependentsStep&) {
    // Reverse stop order: what was stopped last (closest to the stopped service) starts first.
    restore_queue_.assign(stopped_dependents_.rbegin(), stopped_dependents_.rend());
    restored_.clear();
    restore_failures_.clear();
    restore_first_code_.reset();
    if (restore_queue_.empty()) {
        StepReport report;
        report.services = std::vector<std::string>{};
        report.summary = nothing_to_restore_summary();
        step_succeeded(report);
        return;
    }
    restore_next();
}

void Workflow::Execution::restore_next() {
    if (cancel_requested_) {
        step_ended_by_cancel();
        return;
    }
    if (restore_queue_.empty()) {
        restore_finished();
        return;
    }
    const auto remaining = step().timeout - since(step_started_at_);
    if (remaining <= Duration::zero()) {
        for (const auto& name : restore_queue_) restore_failures_.push_back(restore_not_attempted(name, step().timeout));
        if (!restore_first_code_) restore_first_code_ = std::make_error_code(std::errc::timed_out);
        restore_queue_.clear();
        restore_finished();
        return;
    }
    auto service = restore_queue_.front();
    restore_queue_.erase(restore_queue_.begin());
    auto slot = std::make_shared<std::optional<Result<Done>>>();
    ports_.workers.submit(
        [&services = ports_.services, service, remaining, token = stop_.get_token(), slot] {
            slot->emplace(guarded<Done>([&] { return services.start_service(service, remaining, token); }));
        },
        [weak = weak(), service, slot] {
            if (auto self = weak.lock()) self->restore_returned(service, **slot);
        });
}

void Workflow::Execution::restore_returned(const std::string& service, const Result<Done>& result) {
    if (finished_) return;
    if (result) {
        restored_.push_back(service);
        std::erase(stopped_dependents_, service);
    } else {
        // Keep going: bringing back as many of the host's services as possible matters more
        // than stopping at the first one that refuses.
        restore_failures_.push_back(restore_failed(service, result.error().message));
        if (!restore_first_code_) restore_first_code_ = result.error().code;
    }
    restore_next();
}

void Workflow::Execution::restore_finished() {
    StepReport report;
    report.services = restored_;
    if (!restore_failures_.empty()) {
        report.summary = restore_failed_summary(restore_failures_, restored_);
        report.code = restore_first_code_;
        report.extra["failed_services"] = restore_failures_;
        step_failed(std::move(report));
        return;
    }
    report.summary = restored_summary(restored_);
    step_succeeded(report);
}

}  // namespace certheal
