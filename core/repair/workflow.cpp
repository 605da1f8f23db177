#include "core/repair/workflow.hpp"

#include "core/describe/step_sentences.hpp"
#include "core/repair/workflow_execution.hpp"
#include "core/base/text.hpp"

#include <stdexcept>
#include <utility>
#include <variant>

namespace certheal {

std::string output_tail_for_event(const std::string& text, std::size_t max_bytes) {
    std::size_t begin = text.size() > max_bytes ? text.size() - max_bytes : 0;
    // Skip continuation bytes so the tail does not start in the middle of a character.
    while (begin < text.size() && begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) ++begin;
    std::string clean = begin > 0 ? "..." : "";
    clean.reserve(text.size() - begin + 3);
    std::size_t i = begin;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
        bool valid = length > 0 && i + length <= text.size();
        for (std::size_t k = 1; valid && k < length; ++k) {
            valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
        }
        if (valid && length == 2) valid = lead >= 0xC2;  // overlong encodings
        if (valid && length == 3) {
            const auto second = static_cast<unsigned char>(text[i + 1]);
            valid = !(lead == 0xE0 && second < 0xA0) && !(lead == 0xED && second >= 0xA0);  // overlong, surrogates
        }
        if (valid && length == 4) {
            const auto second = static_cast<unsigned char>(text[i + 1]);
            valid = !(lead == 0xF0 && second < 0x90) && !(lead == 0xF4 && second >= 0x90) && lead <= 0xF4;
        }
        if (!valid) {
            clean += '?';
            ++i;
            continue;
        }
        clean.append(text, i, length);
        i += length;
    }
    return clean;
}

Workflow::Execution::Execution(WorkflowPorts ports, Request request, std::function<void(Outcome)> done)
    : ports_(ports),
      steps_(std::move(request.steps)),
      incident_(std::move(request.incident)),
      sites_(std::move(request.sites_to_verify)),
      dry_run_(request.dry_run),
      stage_(std::move(request.stage)),
      done_(std::move(done)),
      stopped_dependents_(std::move(request.stopped_dependents)) {}

void Workflow::Execution::begin() {
    started_at_ = ports_.clock.monotonic_now();
    next_step();
}

void Workflow::Execution::cancel() {
    if (finished_ || cancel_requested_) return;
    cancel_requested_ = true;
    stop_.request_stop();
    if (waiting_between_rounds_) {
        // Nothing is running: the only thing to interrupt is the wait itself.
        verify_delay_.reset();
        verify_deadline_.reset();
        waiting_between_rounds_ = false;
        ++verify_generation_;
        step_ended_by_cancel();
    }
}

void Workflow::Execution::abandon() {
    finished_ = true;
    stop_.request_stop();
    verify_delay_.reset();
    verify_deadline_.reset();
    done_ = nullptr;
}

// --- sequencing -----------------------------------------------------------------------------

void Workflow::Execution::next_step() {
    // Dry run completes steps synchronously: loop instead of recursing through every step.
    while (!finished_) {
        if (cancel_requested_) {
            finish_cancelled(std::nullopt);
            return;
        }
        if (index_ >= steps_.size()) {
            finish(Outcome{true, false, verified_, std::nullopt, {}, since(started_at_), {}});
            return;
        }
        step_started_at_ = ports_.clock.monotonic_now();
        if (dry_run_ && !inspected_in_dry_run(step().action)) {
            emit_dry_run_step();
            ++index_;
            continue;
        }
        std::visit([this](const auto& action) { begin_step(action); }, step().action);
        return;
    }
}

// A step that succeeded is reported as such even when a cancel came meanwhile; next_step()
// then sees the cancel and stops the workflow.
void Workflow::Execution::step_succeeded(const StepReport& report) {
    emit_step(EventId::step_succeeded, report);
    ++index_;
    next_step();
}

void Workflow::Execution::step_failed(StepReport report) {
    if (cancel_requested_) {
        // The failure is most likely the cancellation itself; record it, then stop as cancelled.
        report.extra["cancelled"] = true;
        emit_step(EventId::step_failed, report);
        finish_cancelled(index_);
        return;
    }
    emit_step(EventId::step_failed, report);
    const auto failed = index_;
    finish(Outcome{false, false, false, failed, step_failed_error(failed, step(), report.summary), since(started_at_),
                   {}});
}

void Workflow::Execution::call_failed(const Failure& failure) {
    StepReport report;
    report.summary = with_cause(step_failure_clause(step()), failure.message);
    report.code = failure.code;
    step_failed(std::move(report));
}

// A step that was interrupted before it produced a result of its own.
void Workflow::Execution::step_ended_by_cancel() {
    StepReport report;
    report.summary = step_cancelled_summary();
    report.code = std::make_error_code(std::errc::operation_canceled);
    step_failed(std::move(report));
}

void Workflow::Execution::finish_cancelled(std::optional<std::size_t> during_step) {
    using When = WorkflowCancelledFacts::When;
    WorkflowCancelledFacts facts{incident_, When::after_last_step, index_, std::nullopt};
    if (during_step) {
        facts.when = When::during_step;
        facts.index = *during_step;
        facts.step = steps_[*during_step];
    } else if (index_ < steps_.size()) {
        facts.when = When::before_step;
        facts.step = steps_[index_];
    }
    finish(Outcome{false, true, false, std::nullopt, workflow_cancelled_error(facts), since(started_at_), {}});
}

void Workflow::Execution::finish(Outcome outcome) {
    finished_ = true;
    outcome.stopped_dependents = stopped_dependents_;
    verify_delay_.reset();
    verify_deadline_.reset();
    auto done = std::move(done_);
    done_ = nullptr;
    // Last thing: the owner may destroy the Workflow (and with it its hold on this Execution).
    if (done) done(std::move(outcome));
}

// --- events ---------------------------------------------------------------------------------

Event Workflow::Execution::step_event(EventId id) const {
    Event event;
    event.id = id;
    event.time = ports_.clock.wall_now();
    event.incident = incident_;
    event.details = {
        {"step", index_ + 1},
        {"steps", steps_.size()},
        {"kind", std::string(step_kind(step().action))},
        {"description", describe_step(step())},
        {"duration_ms", since(step_started_at_).count()},
        {"dry_run", dry_run_},
    };
    if (stage_) {
        event.details["stage"] = stage_->name;
        event.details["stage_number"] = stage_->number;
        event.details["stages"] = stage_->count;
        if (is_stage_verify()) event.details["stage_verify"] = true;
    }
    return event;
}

StepPlace Workflow::Execution::step_place() const {
    StepPlace place{index_ + 1, steps_.size(), std::string(step_kind(step().action)), std::nullopt, is_stage_verify()};
    if (stage_) place.stage = StepPlace::Stage{stage_->number, stage_->count};
    return place;
}

void Workflow::Execution::emit_step(EventId id, const StepReport& report) {
    Event event = step_event(id);
    if (id == EventId::step_succeeded) {
        event.message = step_succeeded_message(step_place());
        if (!report.summary.empty()) event.details["outcome"] = report.summary;
    } else {
        event.message = step_failed_message(
            StepFailureFacts{step_place(), report.exit_code, dry_run_, cancel_requested_, report.output.has_value()});
        event.details["error"] = report.summary;
    }
    if (report.code) {
        event.details["error_code"] = report.code->value();
        event.details["error_category"] = report.code->category().name();
    }
    if (report.exit_code) event.details["exit_code"] = *report.exit_code;
    if (report.output) {
        event.details["output_tail"] = {{"stdout", output_tail_for_event(report.output->first)},
                                        {"stderr", output_tail_for_event(report.output->second)}};
    }
    if (report.services) event.details["services"] = *report.services;
    for (auto& [key, value] : report.extra.items()) event.details[key] = value;
    ports_.events.emit(event);
}

void Workflow::Execution::emit_dry_run_step(const std::string& would, const nlohmann::json& extra) {
    Event event = step_event(EventId::step_succeeded);
    event.message = dry_run_step_message(step_place());
    if (!would.empty()) event.details["would"] = would;
    for (const auto& [key, value] : extra.items()) event.details[key] = value;
    ports_.events.emit(event);
}

// Steps that read their target even in a dry run, to say what they would change.
bool Workflow::Execution::inspected_in_dry_run(const StepAction& action) {
    return std::holds_alternative<TrustCaStep>(action) || std::holds_alternative<FixRootStoreStep>(action) ||
           std::holds_alternative<AddIntermediatesStep>(action) || std::holds_alternative<SetSchannelStep>(action);
}

// A dry-run inspection ended: report what would happen and go on, or stop where the real
// repair would fail.
void Workflow::Execution::dry_run_inspected(const std::string& would, const nlohmann::json& extra) {
    emit_dry_run_step(would, extra);
    ++index_;
    next_step();
}

Workflow::Workflow(WorkflowPorts ports) : ports_(ports) {}

Workflow::~Workflow() = default;  // abandons a run in progress

void Workflow::start(const std::vector<Step>& steps, std::string incident, std::vector<SiteConfig> sites_to_verify,
                     bool dry_run, std::function<void(Outcome)> done) {
    start(Request{steps, std::move(incident), std::move(sites_to_verify), dry_run, std::nullopt, {}}, std::move(done));
}

void Workflow::start(Request request, std::function<void(Outcome)> done) {
    if (running()) throw std::logic_error("a repair workflow is already running");
    execution_.start(ports_, std::move(request), std::move(done));  // may finish and let the owner destroy *this
}

void Workflow::cancel() { execution_.cancel(); }

bool Workflow::running() const { return execution_.running(); }

}  // namespace certheal
