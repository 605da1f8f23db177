#include "core/repair/repair_ladder.hpp"

#include "core/describe/step_sentences.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <utility>

#include "core/base/text.hpp"

namespace certheal {
namespace {

template <class Set, class Show>
std::vector<std::string> names_of(const Set& values, Show show) {
    std::vector<std::string> names;
    names.reserve(values.size());
    for (const auto& value : values) names.emplace_back(show(value));
    return names;
}

std::vector<std::string> class_names(const std::set<ProbeClass>& classes) {
    return names_of(classes, [](ProbeClass probe_class) { return to_string(probe_class); });
}
std::vector<std::string> cause_names(const std::set<TrustCause>& causes) {
    return names_of(causes, [](TrustCause cause) { return to_string(cause); });
}

std::string or_list(const std::vector<std::string>& names) {
    if (names.size() <= 1) return names.empty() ? std::string() : names.front();
    std::string text;
    for (std::size_t i = 0; i + 1 < names.size(); ++i) text += (i == 0 ? "" : ", ") + names[i];
    return text + " or " + names.back();
}


}  // namespace

std::optional<std::string> stage_mismatch(const StageCondition& when, const IncidentFacts& facts) {
    if (!when.classes.empty() && (!facts.probe_class || when.classes.count(*facts.probe_class) == 0)) {
        return "its when lists the class " + or_list(class_names(when.classes)) + ", and the incident's class is " +
               (facts.probe_class ? std::string(to_string(*facts.probe_class)) : std::string("unknown"));
    }
    if (!when.causes.empty() && !facts.cause) {
        return "its when lists the cause " + or_list(cause_names(when.causes)) +
               ", and no host trust diagnosis named a cause for this incident (the diagnosis runs on Windows only)";
    }
    if (!when.causes.empty() && when.causes.count(*facts.cause) == 0) {
        return "its when lists the cause " + or_list(cause_names(when.causes)) +
               ", and the host trust diagnosis named " + std::string(to_string(*facts.cause));
    }
    return std::nullopt;
}

nlohmann::json condition_json(const StageCondition& when) {
    auto json = nlohmann::json::object();
    if (!when.classes.empty()) json["class"] = class_names(when.classes);
    if (!when.causes.empty()) json["cause"] = cause_names(when.causes);
    return json;
}

std::vector<Step> stage_steps(const RepairStage& stage, const VerifyStep& default_verify,
                              const std::vector<SiteConfig>& sites) {
    const VerifyStep verify = stage.verify.value_or(default_verify);
    Duration longest = std::chrono::seconds(10);
    for (const auto& site : sites) longest = std::max(longest, site.timeout);
    std::vector<Step> steps = stage.steps;
    steps.push_back(Step{verify, (longest + verify.delay) * std::max(verify.attempts, 1)});
    return steps;
}

std::vector<StagePlan> plan_ladder(const RemediationConfig& remediation, const IncidentFacts& facts,
                                   const std::vector<SiteConfig>& sites) {
    std::vector<StagePlan> plan;
    if (remediation.stages.empty()) {
        StagePlan only{1, "steps", true, {}, {}};
        for (const auto& step : remediation.steps) only.steps.push_back(describe_step(step));
        plan.push_back(std::move(only));
        return plan;
    }
    for (std::size_t i = 0; i < remediation.stages.size(); ++i) {
        const auto& stage = remediation.stages[i];
        StagePlan entry{i + 1, stage.name, true, {}, {}};
        if (auto mismatch = stage_mismatch(stage.when, facts)) {
            entry.runs = false;
            entry.skip_reason = *mismatch;
        }
        for (const auto& step : stage_steps(stage, remediation.verify, sites)) entry.steps.push_back(describe_step(step));
        plan.push_back(std::move(entry));
    }
    return plan;
}

std::vector<std::string> ladder_plan_lines(const std::vector<StagePlan>& plan) {
    std::vector<std::string> lines;
    bool earlier_runs = false;
    for (const auto& stage : plan) {
        std::string line = stage_title(stage.number, plan.size(), stage.name) + ": ";
        if (!stage.runs) {
            line += "would be skipped, because " + stage.skip_reason + ".";
        } else {
            line += std::string(earlier_runs ? "would run only if the stages before it do not heal the sites: "
                                             : "would run: ") +
                    join(stage.steps, "; ") + ".";
            earlier_runs = true;
        }
        lines.push_back(std::move(line));
    }
    return lines;
}

nlohmann::json ladder_plan_json(const std::vector<StagePlan>& plan) {
    auto stages = nlohmann::json::array();
    for (const auto& stage : plan) {
        nlohmann::json entry = {{"stage", stage.name}, {"stage_number", stage.number}, {"runs", stage.runs},
                                {"steps", stage.steps}};
        if (!stage.runs) entry["skipped_because"] = stage.skip_reason;
        stages.push_back(std::move(entry));
    }
    return stages;
}

// One start() of the ladder. Completions hold it weakly, as the Workflow's do.
class RepairLadder::Execution : public std::enable_shared_from_this<RepairLadder::Execution> {
public:
    Execution(WorkflowPorts ports, const RemediationConfig& remediation, std::string incident, IncidentFacts facts,
              std::vector<SiteConfig> sites, bool dry_run, std::function<void(Outcome)> done)
        : ports_(ports),
          workflow_(ports),
          remediation_(remediation),
          incident_(std::move(incident)),
          facts_(facts),
          sites_(std::move(sites)),
          dry_run_(dry_run),
          done_(std::move(done)) {}

    bool finished() const { return finished_; }

    void begin() {
        started_at_ = ports_.clock.monotonic_now();
        outcome_.stage_count = remediation_.stages.size();
        if (remediation_.stages.empty()) {
            run_steps();
            return;
        }
        next_stage();
    }

    void cancel() {
        if (finished_ || cancel_requested_) return;
        cancel_requested_ = true;
        workflow_.cancel();  // may finish the stage, and with it the ladder, at once
    }

    void abandon() {
        finished_ = true;
        done_ = nullptr;
    }

private:
    std::weak_ptr<Execution> weak() { return weak_from_this(); }
    const RepairStage& stage() const { return remediation_.stages[index_]; }
    std::size_t count() const { return remediation_.stages.size(); }
    StagePosition position() const { return {index_ + 1, count()}; }
    Duration since(MonotonicTime start) const {
        return std::chrono::duration_cast<Duration>(ports_.clock.monotonic_now() - start);
    }

    // --- remediation.steps: one list, exactly as before ladders ----------------------------

    void run_steps() {
        workflow_.start(remediation_.steps, incident_, sites_, dry_run_, [weak = weak()](Workflow::Outcome result) {
            if (auto self = weak.lock()) self->steps_finished(std::move(result));
        });
    }

    void steps_finished(Workflow::Outcome result) {
        if (finished_) return;
        outcome_.succeeded = result.succeeded;
        outcome_.cancelled = result.cancelled;
        outcome_.verified = result.verified;
        outcome_.failed_step = result.failed_step;
        outcome_.error = std::move(result.error);
        outcome_.stages_run = 1;
        finish();
    }

    // --- the ladder ------------------------------------------------------------------------

    void next_stage() {
        while (!finished_) {
            if (cancel_requested_) {
                outcome_.cancelled = true;
                outcome_.error = ladder_cancelled_error(
                    incident_, index_ < count() ? std::optional(stage_title(index_ + 1, count(), stage().name))
                                                : std::nullopt);
                finish();
                return;
            }
            if (index_ >= count()) {
                ladder_ended();
                return;
            }
            if (auto mismatch = stage_mismatch(stage().when, facts_)) {
                skip_stage(*mismatch);
                ++index_;
                continue;
            }
            start_stage();
            return;
        }
    }

    Event stage_event(EventId id, std::string message) const {
        Event event;
        event.id = id;
        event.time = ports_.clock.wall_now();
        event.incident = incident_;
        event.message = std::move(message);
        event.details = {{"stage", stage().name}, {"stage_number", index_ + 1}, {"stages", count()},
                         {"dry_run", dry_run_}};
        return event;
    }

    void add_incident_facts(nlohmann::json& details) const {
        details["class"] = facts_.probe_class ? nlohmann::json(std::string(to_string(*facts_.probe_class))) : nlohmann::json(nullptr);
        details["cause"] = facts_.cause ? nlohmann::json(std::string(to_string(*facts_.cause))) : nlohmann::json(nullptr);
    }

    void skip_stage(const std::string& reason) {
        Event event = stage_event(EventId::stage_skipped, stage_skipped_message(position(), dry_run_));
        event.details["when"] = condition_json(stage().when);
        event.details["reason"] = reason;
        add_incident_facts(event.details);
        ports_.events.emit(event);
        outcome_.stages.push_back({stage().name, StageResult::State::skipped, reason});
    }

    void start_stage() {
        ++outcome_.stages_run;
        stage_started_at_ = ports_.clock.monotonic_now();
        auto steps = stage_steps(stage(), remediation_.verify, sites_);
        nlohmann::json descriptions = nlohmann::json::array();
        for (const auto& step : steps) descriptions.push_back(describe_step(step));
        const auto step_count = stage().steps.size();
        Event event = stage_event(EventId::stage_started, stage_started_message(position(), dry_run_, step_count));
        event.details["steps"] = descriptions;
        if (!stage().when.empty()) event.details["when"] = condition_json(stage().when);
        add_incident_facts(event.details);
        ports_.events.emit(event);

        Workflow::Request request{std::move(steps), incident_, sites_, dry_run_,
                                  Workflow::StagePlace{stage().name, index_ + 1, count(), true},
                                  std::move(stopped_dependents_)};
        stopped_dependents_.clear();
        workflow_.start(std::move(request), [weak = weak()](Workflow::Outcome result) {
            if (auto self = weak.lock()) self->stage_finished(std::move(result));
        });
    }

    void stage_finished(Workflow::Outcome result) {
        if (finished_) return;
        stopped_dependents_ = std::move(result.stopped_dependents);
        const auto duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(since(stage_started_at_)).count();
        if (result.cancelled) {
            outcome_.stages.push_back({stage().name, StageResult::State::cancelled, result.error});
            outcome_.cancelled = true;
            outcome_.error = std::move(result.error);
            finish();
            return;
        }
        if (dry_run_) {
            outcome_.stages.push_back({stage().name, StageResult::State::dry_run, {}});
            ++index_;
            next_stage();
            return;
        }
        if (result.succeeded) {
            Event event = stage_event(EventId::stage_succeeded, stage_succeeded_message(position()));
            event.details["stages_run"] = outcome_.stages_run;
            event.details["duration_ms"] = duration_ms;
            ports_.events.emit(event);
            outcome_.stages.push_back({stage().name, StageResult::State::healed, {}});
            outcome_.succeeded = true;
            outcome_.verified = true;
            outcome_.stage = stage().name;
            outcome_.stage_number = index_ + 1;
            finish();
            return;
        }
        // The last step is the stage's verify: failing there means the steps ran and did not heal.
        const bool not_healed = result.failed_step && *result.failed_step + 1 == stage_steps_count();
        const bool last = index_ + 1 >= count();
        Event event = stage_event(EventId::stage_failed,
                                  stage_failed_message({position(), not_healed, result.failed_step.value_or(0) + 1}));
        event.details["duration_ms"] = duration_ms;
        event.details["error"] = result.error;
        event.details["failed_step"] = result.failed_step ? nlohmann::json(*result.failed_step + 1) : nlohmann::json(nullptr);
        event.details["not_healed"] = not_healed;
        event.details["next_stage"] = last ? nlohmann::json(nullptr) : nlohmann::json(remediation_.stages[index_ + 1].name);
        ports_.events.emit(event);
        outcome_.stages.push_back(
            {stage().name, not_healed ? StageResult::State::not_healed : StageResult::State::step_failed, result.error});
        ++index_;
        next_stage();
    }

    std::size_t stage_steps_count() const { return stage().steps.size() + 1; }

    void ladder_ended() {
        if (dry_run_) {
            outcome_.succeeded = true;
            finish();
            return;
        }
        if (outcome_.stages_run == 0) {
            outcome_.error = "no stage of the repair ladder matches this incident (class " +
                             std::string(facts_.probe_class ? to_string(*facts_.probe_class) : "unknown") + ", cause " +
                             std::string(facts_.cause ? to_string(*facts_.cause) : "unknown") +
                             "), so certheal ran none; the stage_skipped events say why each was skipped";
        } else {
            std::vector<std::string> failures;
            for (std::size_t i = 0; i < outcome_.stages.size(); ++i) {
                const auto& result = outcome_.stages[i];
                if (result.state == StageResult::State::skipped) continue;
                failures.push_back(stage_title(i + 1, count(), result.name) + ": " + as_clause(result.reason));
            }
            outcome_.error = "no stage of the repair ladder made the sites healthy (" + std::to_string(outcome_.stages_run) +
                             " of " + std::to_string(count()) + " ran; " + join(failures, "; ") + ")";
        }
        finish();
    }

    void finish() {
        finished_ = true;
        outcome_.duration = since(started_at_);
        auto done = std::move(done_);
        done_ = nullptr;
        if (done) done(std::move(outcome_));  // last: the owner may destroy the ladder
    }

    WorkflowPorts ports_;
    Workflow workflow_;
    const RemediationConfig remediation_;
    std::string incident_;
    IncidentFacts facts_;
    std::vector<SiteConfig> sites_;
    bool dry_run_;
    std::function<void(Outcome)> done_;

    bool finished_ = false;
    bool cancel_requested_ = false;
    std::size_t index_ = 0;
    MonotonicTime started_at_{};
    MonotonicTime stage_started_at_{};
    std::vector<std::string> stopped_dependents_;
    Outcome outcome_;
};

RepairLadder::RepairLadder(WorkflowPorts ports) : ports_(ports) {}

RepairLadder::~RepairLadder() = default;  // abandons a run in progress

void RepairLadder::start(const RemediationConfig& remediation, std::string incident, IncidentFacts facts,
                         std::vector<SiteConfig> sites, bool dry_run, std::function<void(Outcome)> done) {
    if (running()) throw std::logic_error("a repair is already running");
    // May finish and let the owner destroy *this: touch nothing afterwards.
    execution_.start(ports_, remediation, std::move(incident), facts, std::move(sites), dry_run, std::move(done));
}

void RepairLadder::cancel() { execution_.cancel(); }

bool RepairLadder::running() const { return execution_.running(); }

}  // namespace certheal
