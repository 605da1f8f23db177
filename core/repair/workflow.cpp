#include "core/repair/workflow.hpp"

#include "core/describe/step_sentences.hpp"
#include "core/repair/certificate_trust.hpp"
#include "core/repair/host_trust_steps.hpp"
#include "core/base/text.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <stop_token>
#include <utility>
#include <variant>

namespace certheal {
namespace {

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

// "1 process" or "3 processes".
std::string process_count(const std::vector<std::string>& processes) {
    return std::to_string(processes.size()) + (processes.size() == 1 ? " process" : " processes");
}

// What a timeout or cancel ended, for the step's sentence: " (3 processes: 1234 sh, 1240 sleep,
// 1250 sleep)" from the runner's "<pid> <command name>" entries, or nothing when it could not tell.
std::string killed_clause(const ProcessOutcome& outcome) {
    if (outcome.killed.empty()) return {};
    return " (" + process_count(outcome.killed) + ": " + join(outcome.killed) + ")";
}

// Processes that survived the kill: an admin must end them by hand.
std::string survivors_sentence(const ProcessOutcome& outcome) {
    const auto& survivors = outcome.left_running;
    if (survivors.empty()) return {};
    return " certheal could not end " + process_count(survivors) + " (" + join(survivors) + "); end " +
           (survivors.size() == 1 ? "it" : "them") + " by hand.";
}

}  // namespace

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

// One start() of the workflow. Callbacks hold it weakly: when the owner destroys the Workflow,
// late completions find nothing and do nothing.
class Workflow::Execution : public std::enable_shared_from_this<Workflow::Execution> {
public:
    Execution(WorkflowPorts ports, Request request, std::function<void(Outcome)> done)
        : ports_(ports),
          steps_(std::move(request.steps)),
          incident_(std::move(request.incident)),
          sites_(std::move(request.sites_to_verify)),
          dry_run_(request.dry_run),
          stage_(std::move(request.stage)),
          done_(std::move(done)),
          stopped_dependents_(std::move(request.stopped_dependents)) {}

    bool finished() const { return finished_; }

    void begin() {
        started_at_ = ports_.clock.monotonic_now();
        next_step();
    }

    void cancel() {
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

    // The owner is gone: stop the current call and never report.
    void abandon() {
        finished_ = true;
        stop_.request_stop();
        verify_delay_.reset();
        verify_deadline_.reset();
        done_ = nullptr;
    }

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

    // --- sequencing -----------------------------------------------------------------

    void next_step() {
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
    void step_succeeded(const StepReport& report) {
        emit_step(EventId::step_succeeded, report);
        ++index_;
        next_step();
    }

    void step_failed(StepReport report) {
        if (cancel_requested_) {
            // The failure is most likely the cancellation itself; record it, then stop as cancelled.
            report.extra["cancelled"] = true;
            emit_step(EventId::step_failed, report);
            finish_cancelled(index_);
            return;
        }
        emit_step(EventId::step_failed, report);
        const auto failed = index_;
        finish(Outcome{false, false, false, failed,
                       "Step " + std::to_string(failed + 1) + " (" + describe_step(step()) + ") failed: " +
                           report.summary,
                       since(started_at_), {}});
    }

    // A step that was interrupted before it produced a result of its own.
    void step_ended_by_cancel() {
        StepReport report;
        report.summary = "certheal cancelled this step because it is stopping.";
        report.code = std::make_error_code(std::errc::operation_canceled);
        step_failed(std::move(report));
    }

    void finish_cancelled(std::optional<std::size_t> during_step) {
        std::string error = "certheal cancelled the repair for incident " + incident_ + " because it is stopping";
        if (during_step) {
            error += " during step " + std::to_string(*during_step + 1) + " (" + describe_step(steps_[*during_step]) +
                     ")";
        } else if (index_ < steps_.size()) {
            error += " before step " + std::to_string(index_ + 1) + " (" + describe_step(steps_[index_]) + ")";
        }
        error += "; the remaining steps were not run, so check the services on this host.";
        finish(Outcome{false, true, false, std::nullopt, std::move(error), since(started_at_), {}});
    }

    void finish(Outcome outcome) {
        finished_ = true;
        outcome.stopped_dependents = stopped_dependents_;
        verify_delay_.reset();
        verify_deadline_.reset();
        auto done = std::move(done_);
        done_ = nullptr;
        // Last thing: the owner may destroy the Workflow (and with it its hold on this Execution).
        if (done) done(std::move(outcome));
    }

    // --- events -----------------------------------------------------------------------

    Event step_event(EventId id) const {
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

    bool is_stage_verify() const { return stage_ && stage_->ends_with_stage_verify && index_ + 1 == steps_.size(); }

    // "Repair step 2 of 4 (run)", "Step 1 of 3 of stage 2 of 3 (trust_ca)": the step's own words
    // (its program, its store) are in the fields description and error, which can be long.
    std::string step_label() const {
        std::string place = "step " + std::to_string(index_ + 1) + " of " + std::to_string(steps_.size());
        if (stage_) {
            place += " of stage " + std::to_string(stage_->number) + " of " + std::to_string(stage_->count);
        }
        const std::string kind = is_stage_verify() ? "the stage's verify" : std::string(step_kind(step().action));
        return (stage_ ? "Step" : "Repair step") + place.substr(4) + " (" + kind + ")";
    }

    void emit_step(EventId id, const StepReport& report) {
        Event event = step_event(id);
        if (id == EventId::step_succeeded) {
            event.message = step_label() + " succeeded.";
            if (!report.summary.empty()) event.details["outcome"] = report.summary;
        } else {
            const std::string how = report.exit_code && *report.exit_code != 0
                                        ? ": the program exited with code " + std::to_string(*report.exit_code)
                                        : std::string();
            event.message = (dry_run_ ? "Dry run: " : "") + step_label() + " failed" + how + "." +
                            (cancel_requested_ ? " certheal is stopping."
                             : stage_ && dry_run_ ? " The real stage would stop here."
                             : stage_             ? " The stage stopped here; see the error."
                             : dry_run_           ? " The real repair would stop here."
                             : report.output      ? " The repair stopped here; see the error and the output."
                                                  : " The repair stopped here; see the error.");
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

    void emit_dry_run_step(const std::string& would = {}, const nlohmann::json& extra = nlohmann::json::object()) {
        Event event = step_event(EventId::step_succeeded);
        std::string label = step_label();
        label[0] = label[0] == 'R' ? 'r' : 's';  // "Repair step ..." or "Step ..." inside the sentence
        event.message = "Dry run: " + label + " would run; certheal changed nothing.";
        if (!would.empty()) event.details["would"] = would;
        for (const auto& [key, value] : extra.items()) event.details[key] = value;
        ports_.events.emit(event);
    }

    // Steps that read their target even in a dry run, to say what they would change.
    static bool inspected_in_dry_run(const StepAction& action) {
        return std::holds_alternative<TrustCaStep>(action) || std::holds_alternative<FixRootStoreStep>(action) ||
               std::holds_alternative<AddIntermediatesStep>(action) || std::holds_alternative<SetSchannelStep>(action);
    }

    // A dry-run inspection ended: report what would happen and go on, or stop where the real
    // repair would fail.
    void dry_run_inspected(const std::string& would, const nlohmann::json& extra) {
        emit_dry_run_step(would, extra);
        ++index_;
        next_step();
    }

    // --- run --------------------------------------------------------------------------

    void begin_step(const RunStep& run) {
        auto slot = std::make_shared<std::optional<Result<ProcessOutcome>>>();
        const auto timeout = step().timeout;
        ports_.workers.submit(
            [&runner = ports_.processes, program = run.program, args = run.args, timeout, token = stop_.get_token(),
             slot] { slot->emplace(guarded<ProcessOutcome>([&] { return runner.run(program, args, timeout, token); })); },
            [weak = weak(), slot] {
                if (auto self = weak.lock()) self->run_returned(std::move(**slot));
            });
    }

    void run_returned(Result<ProcessOutcome> result) {
        if (finished_) return;
        const auto& run = std::get<RunStep>(step().action);
        const std::string program = run.program.filename().string();
        StepReport report;
        if (!result) {
            report.summary = with_cause("certheal could not start " + run.program.string(), result.error().message);
            report.code = result.error().code;
            step_failed(std::move(report));
            return;
        }
        const ProcessOutcome& outcome = result.value();
        report.output = std::make_pair(outcome.stdout_tail, outcome.stderr_tail);
        if (!outcome.left_running.empty()) report.extra["left_running"] = outcome.left_running;
        if (outcome.cancelled || outcome.timed_out) report.extra["killed_processes"] = outcome.killed;
        if (outcome.cancelled) {
            report.summary = program + " was stopped because certheal is stopping; certheal killed its process tree" +
                             killed_clause(outcome) + "." + survivors_sentence(outcome);
            report.code = std::make_error_code(std::errc::operation_canceled);
            report.extra["cancelled"] = true;
            step_failed(std::move(report));
            return;
        }
        if (outcome.timed_out) {
            report.summary = program + " did not finish within its timeout of " + format_duration(step().timeout) +
                             ", so certheal killed its process tree" + killed_clause(outcome) +
                             "; check what it waits for." + survivors_sentence(outcome);
            report.code = std::make_error_code(std::errc::timed_out);
            report.extra["timed_out"] = true;
            step_failed(std::move(report));
            return;
        }
        // A program that started a daemon (a service start script) leaves it running by design;
        // the event names it, since an admin may want to know.
        const std::string left_behind =
            outcome.left_running.empty()
                ? std::string()
                : "; it left " + process_count(outcome.left_running) + " running (" + join(outcome.left_running) + ")";
        report.exit_code = outcome.exit_code;
        if (outcome.exit_code != 0) {
            report.summary = program + " exited with code " + std::to_string(outcome.exit_code) + left_behind +
                             ".";  // what it printed is output_tail, and under the step in history
            step_failed(std::move(report));
            return;
        }
        report.summary = program + " exited with code 0" + left_behind;
        step_succeeded(report);
    }

    // --- services -----------------------------------------------------------------------

    void begin_step(const StopServiceStep& stop) {
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

    void stop_returned(Result<std::vector<std::string>> result) {
        if (finished_) return;
        const auto& stop = std::get<StopServiceStep>(step().action);
        StepReport report;
        if (!result) {
            report.summary =
                with_cause("certheal could not stop the service " + stop.service, result.error().message);
            report.code = result.error().code;
            step_failed(std::move(report));
            return;
        }
        const auto& dependents = result.value();
        // Remembered across stop steps, in stop order, for restore_dependents.
        for (const auto& name : dependents) {
            if (std::find(stopped_dependents_.begin(), stopped_dependents_.end(), name) == stopped_dependents_.end()) {
                stopped_dependents_.push_back(name);
            }
        }
        report.services = dependents;
        report.summary = dependents.empty()
                             ? "stopped " + stop.service
                             : "stopped " + stop.service + " after its running dependents " + list_text(dependents);
        step_succeeded(report);
    }

    void begin_step(const StartServiceStep& start) {
        auto slot = std::make_shared<std::optional<Result<Done>>>();
        ports_.workers.submit(
            [&services = ports_.services, service = start.service, timeout = step().timeout, token = stop_.get_token(),
             slot] { slot->emplace(guarded<Done>([&] { return services.start_service(service, timeout, token); })); },
            [weak = weak(), slot] {
                if (auto self = weak.lock()) self->start_returned(**slot);
            });
    }

    void start_returned(const Result<Done>& result) {
        if (finished_) return;
        const auto& start = std::get<StartServiceStep>(step().action);
        StepReport report;
        if (!result) {
            report.summary =
                with_cause("certheal could not start the service " + start.service, result.error().message);
            report.code = result.error().code;
            step_failed(std::move(report));
            return;
        }
        report.services = std::vector<std::string>{start.service};
        report.summary = "started " + start.service;
        step_succeeded(report);
    }

    // --- restore_dependents ---------------------------------------------------------------

    void begin_step(const RestoreDependentsStep&) {
        // Reverse stop order: what was stopped last (closest to the stopped service) starts first.
        restore_queue_.assign(stopped_dependents_.rbegin(), stopped_dependents_.rend());
        restored_.clear();
        restore_failures_.clear();
        restore_first_code_.reset();
        if (restore_queue_.empty()) {
            StepReport report;
            report.services = std::vector<std::string>{};
            report.summary = "no dependent service had to be started again";
            step_succeeded(report);
            return;
        }
        restore_next();
    }

    void restore_next() {
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
            for (const auto& name : restore_queue_) {
                restore_failures_.push_back(name + " (not attempted: the step's timeout of " +
                                            format_duration(step().timeout) + " ran out)");
            }
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

    void restore_returned(const std::string& service, const Result<Done>& result) {
        if (finished_) return;
        if (result) {
            restored_.push_back(service);
            std::erase(stopped_dependents_, service);
        } else {
            // Keep going: bringing back as many of the host's services as possible matters more
            // than stopping at the first one that refuses.
            restore_failures_.push_back(service + " (" + result.error().message + ")");
            if (!restore_first_code_) restore_first_code_ = result.error().code;
        }
        restore_next();
    }

    void restore_finished() {
        StepReport report;
        report.services = restored_;
        if (!restore_failures_.empty()) {
            report.summary = "certheal could not start again the dependent services " + list_text(restore_failures_) +
                             (restored_.empty() ? "." : "; it did start " + list_text(restored_) + ".");
            report.code = restore_first_code_;
            report.extra["failed_services"] = restore_failures_;
            step_failed(std::move(report));
            return;
        }
        report.summary = "started again " + list_text(restored_);
        step_succeeded(report);
    }

    // --- trust_ca and fix_root_store -------------------------------------------------------

    static nlohmann::json summaries(const std::vector<CertificateSummary>& certificates) {
        auto list = nlohmann::json::array();
        for (const auto& certificate : certificates) {
            list.push_back({{"subject", certificate.subject},
                            {"issuer", certificate.issuer},
                            {"sha1", certificate.sha1},
                            {"sha256", certificate.sha256},
                            {"not_after", certificate.not_after}});
        }
        return list;
    }

    static std::string names_text(const std::vector<CertificateSummary>& certificates) {
        std::vector<std::string> names;
        names.reserve(certificates.size());
        for (const auto& certificate : certificates) names.push_back(certificate.subject + " (SHA-1 " + certificate.sha1 + ")");
        return list_text(names);
    }

    void begin_step(const TrustCaStep& trust) {
        if (std::holds_alternative<AutoStoreTarget>(trust.target)) {
            begin_trust_ca_auto(trust);
            return;
        }
        auto slot = std::make_shared<std::optional<Result<TrustCaReport>>>();
        ports_.workers.submit(
            [&stores = ports_.stores, &files = ports_.files, trust, apply = !dry_run_, slot] {
                slot->emplace(guarded<TrustCaReport>([&] { return trust_ca(trust, stores, files, apply); }));
            },
            [weak = weak(), slot] {
                if (auto self = weak.lock()) self->trust_ca_returned(std::move(**slot));
            });
    }

    void trust_ca_returned(Result<TrustCaReport> result) {
        if (finished_) return;
        StepReport report;
        if (!result) {
            report.summary = with_cause("certheal could not make " + describe_trust_target() + " trust the CA",
                                         result.error().message);
            report.code = result.error().code;
            step_failed(std::move(report));
            return;
        }
        const TrustCaReport& trust = result.value();
        report.extra["target"] = trust.target;
        report.extra["already_present"] = summaries(trust.present);
        // A bundle with other names (hard links): the new file takes this name's place only.
        const bool other_names = trust.hard_links > 1;
        if (other_names) report.extra["hard_links"] = trust.hard_links;
        const auto other_names_note = [&](bool would) {
            const auto others = std::to_string(trust.hard_links - 1);
            return "; the bundle has " + std::to_string(trust.hard_links) + " names (hard links), and certheal " +
                   (would ? "would put" : "put") + " a new file in place of " + trust.target + " only, so the other " +
                   others + (trust.hard_links == 2 ? " name keeps" : " names keep") +
                   " the old contents: point the web server at " + trust.target + " or link the other names to it again";
        };
        if (dry_run_) {
            report.extra["would_add"] = summaries(trust.missing);
            report.extra["changed"] = false;
            dry_run_inspected(trust.missing.empty()
                                  ? "would change nothing: " + names_text(trust.present) + " already in " + trust.target
                                  : "would add " + names_text(trust.missing) + " to " + trust.target +
                                        (other_names ? other_names_note(true) : std::string()),
                              report.extra);
            return;
        }
        report.extra["added"] = summaries(trust.missing);
        report.extra["changed"] = trust.changed;
        report.summary = trust.changed ? "added " + names_text(trust.missing) + " to " + trust.target +
                                             (other_names ? other_names_note(false) : std::string())
                                       : names_text(trust.present) + (trust.present.size() == 1 ? " was" : " were") +
                                             " already in " + trust.target + "; nothing changed";
        step_succeeded(report);
    }

    std::string describe_trust_target() const {
        const auto& trust = std::get<TrustCaStep>(step().action);
        if (const auto* store = std::get_if<CertificateStoreTarget>(&trust.target)) return "LocalMachine\\" + store->store;
        return std::get<PemBundleTarget>(trust.target).bundle.string();
    }

    void begin_step(const FixRootStoreStep& fix) {
        auto slot = std::make_shared<std::optional<Result<RootStoreReport>>>();
        ports_.workers.submit(
            [&stores = ports_.stores, fix, apply = !dry_run_, slot] {
                slot->emplace(guarded<RootStoreReport>([&] { return fix_root_store(fix, stores, apply); }));
            },
            [weak = weak(), slot] {
                if (auto self = weak.lock()) self->fix_root_store_returned(std::move(**slot));
            });
    }

    void fix_root_store_returned(Result<RootStoreReport> result) {
        if (finished_) return;
        StepReport report;
        if (!result) {
            report.summary = with_cause("certheal could not clean up LocalMachine\\Root", result.error().message);
            report.code = result.error().code;
            step_failed(std::move(report));
            return;
        }
        const RootStoreReport& fix = result.value();
        report.extra["move_to"] = fix.move_to;
        if (dry_run_) {
            report.extra["would_move"] = summaries(fix.moved);
            report.extra["changed"] = false;
            dry_run_inspected(fix.moved.empty() ? "would change nothing: LocalMachine\\Root holds only self-signed "
                                                  "certificates"
                                                : "would move " + names_text(fix.moved) +
                                                      " from LocalMachine\\Root to " + fix.move_to,
                              report.extra);
            return;
        }
        report.extra["moved"] = summaries(fix.moved);
        report.extra["changed"] = fix.changed;
        report.summary = fix.changed ? "moved " + names_text(fix.moved) +
                                           ", which are not self-signed, from LocalMachine\\Root to " + fix.move_to
                                     : "LocalMachine\\Root holds only self-signed certificates; nothing changed";
        step_succeeded(report);
    }

    // --- trust_ca "store": "auto", add_intermediates, set_schannel ------------------------------
    // What each found is told by host_trust_steps (StepStory): here only the hand-off.

    template <class Report, class Call, class Tell>
    void begin_host_step(Call call, Tell tell) {
        auto slot = std::make_shared<std::optional<Result<Report>>>();
        ports_.workers.submit([call = std::move(call), slot] { slot->emplace(guarded<Report>(call)); },
                              [weak = weak(), slot, tell = std::move(tell)] {
                                  if (auto self = weak.lock()) self->host_step_returned(tell(**slot));
                              });
    }

    // The step's story, or what it was doing when it failed and why.
    void host_step_returned(const std::variant<StepStory, std::pair<std::string, Failure>>& told) {
        if (finished_) return;
        StepReport report;
        if (const auto* failed = std::get_if<std::pair<std::string, Failure>>(&told)) {
            report.summary = with_cause(failed->first, failed->second.message);
            report.code = failed->second.code;
            step_failed(std::move(report));
            return;
        }
        const auto& story = std::get<StepStory>(told);
        report.extra = story.details;
        if (dry_run_) {
            dry_run_inspected(story.would, report.extra);
            return;
        }
        report.summary = story.summary;
        step_succeeded(report);
    }

    template <class Report>
    static std::variant<StepStory, std::pair<std::string, Failure>> told(const Result<Report>& result,
                                                                         std::string failed_what,
                                                                         StepStory (*tell)(const Report&, bool),
                                                                         bool dry_run) {
        if (!result) return std::make_pair(std::move(failed_what), result.error());
        return tell(result.value(), dry_run);
    }

    void begin_trust_ca_auto(const TrustCaStep& trust) {
        begin_host_step<AutoTrustReport>(
            [&stores = ports_.stores, source = ports_.binding_trust, trust, sites = sites_, apply = !dry_run_] {
                return trust_ca_auto(trust, sites, source, stores, apply);
            },
            [dry_run = dry_run_](const Result<AutoTrustReport>& result) {
                return told(result, "certheal could not make the store Schannel trusts trust the CA", story_of, dry_run);
            });
    }

    void begin_step(const AddIntermediatesStep& intermediates) {
        begin_host_step<IntermediatesReport>(
            [&stores = ports_.stores, intermediates, apply = !dry_run_] {
                return add_intermediates(intermediates, stores, apply);
            },
            [dry_run = dry_run_](const Result<IntermediatesReport>& result) {
                return told(result, "certheal could not add the intermediate CA certificates to LocalMachine\\CA",
                            story_of, dry_run);
            });
    }

    void begin_step(const SetSchannelStep& schannel) {
        begin_host_step<SchannelReport>(
            [settings = ports_.schannel, schannel, apply = !dry_run_]() -> Result<SchannelReport> {
                NoSchannelSettings none;
                return set_schannel(schannel, settings != nullptr ? *settings : none, apply);
            },
            [dry_run = dry_run_](const Result<SchannelReport>& result) {
                return told(result, "certheal could not change the Schannel settings", story_of, dry_run);
            });
    }

    // --- verify ---------------------------------------------------------------------------

    void begin_step(const VerifyStep& verify) {
        verify_round_ = 0;
        verify_attempts_ = std::max(verify.attempts, 1);
        if (sites_.empty()) {
            StepReport report;
            report.summary = "there was no site to verify";
            report.extra["rounds"] = 0;
            step_succeeded(report);
            return;
        }
        verify_deadline_ = ports_.clock.after(step().timeout, [weak = weak()] {
            if (auto self = weak.lock()) self->verify_timed_out();
        });
        start_verify_round();
    }

    void start_verify_round() {
        waiting_between_rounds_ = false;
        if (cancel_requested_) {
            step_ended_by_cancel();
            return;
        }
        ++verify_round_;
        const auto generation = ++verify_generation_;
        verify_pending_ = sites_.size();
        verify_results_.assign(sites_.size(), ProbeResult{});
        for (std::size_t i = 0; i < sites_.size(); ++i) {
            ports_.prober.probe(sites_[i], [weak = weak(), generation, i](ProbeResult result) {
                if (auto self = weak.lock()) self->probe_returned(generation, i, std::move(result));
            });
            // A probe that answers inline may already have ended this round, the step, or all of it.
            if (finished_ || generation != verify_generation_) return;
        }
    }

    void probe_returned(std::uint64_t generation, std::size_t site, ProbeResult result) {
        if (finished_ || generation != verify_generation_) return;  // a late answer from an abandoned round
        verify_results_[site] = std::move(result);
        if (--verify_pending_ > 0) return;

        std::vector<std::string> unhealthy;
        for (const auto& probed : verify_results_) {
            if (probed.probe_class != ProbeClass::healthy) {
                std::string item = probed.site + " (" + std::string(to_string(probed.probe_class));
                if (probed.status) item += ", HTTP " + std::to_string(*probed.status);
                unhealthy.push_back(item + ")");
            }
        }
        if (unhealthy.empty()) {
            verify_deadline_.reset();
            ++verify_generation_;
            StepReport report;
            verified_ = true;
            report.summary = "every site answered healthy in round " + std::to_string(verify_round_) + " of " +
                             std::to_string(verify_attempts_);
            report.extra["rounds"] = verify_round_;
            report.extra["probes"] = round_evidence();
            step_succeeded(report);
            return;
        }
        if (cancel_requested_) {
            ++verify_generation_;
            verify_deadline_.reset();
            step_ended_by_cancel();
            return;
        }
        if (verify_round_ >= verify_attempts_) {
            ++verify_generation_;
            verify_deadline_.reset();
            StepReport report;
            report.summary = "after " + std::to_string(verify_round_) + " rounds of probes, " + list_text(unhealthy) +
                             (unhealthy.size() == 1 ? " was" : " were") +
                             (is_stage_verify() ? " still not healthy after this stage."
                                                : " still not healthy; check the site and the client-certificate trust "
                                                  "by hand.");
            report.extra["rounds"] = verify_round_;
            report.extra["probes"] = round_evidence();
            step_failed(std::move(report));
            return;
        }
        waiting_between_rounds_ = true;
        const auto delay = std::get<VerifyStep>(step().action).delay;
        verify_delay_ = ports_.clock.after(delay, [weak = weak()] {
            if (auto self = weak.lock()) self->start_verify_round();
        });
    }

    void verify_timed_out() {
        if (finished_) return;
        ++verify_generation_;  // probes still on the wire no longer count
        waiting_between_rounds_ = false;
        verify_delay_.reset();
        StepReport report;
        report.summary = "the sites were not all healthy within the step's timeout of " +
                         format_duration(step().timeout) + " (" + std::to_string(verify_round_) +
                         " rounds of probes started); check the site and the client-certificate trust by hand.";
        report.code = std::make_error_code(std::errc::timed_out);
        report.extra["rounds"] = verify_round_;
        report.extra["timed_out"] = true;
        step_failed(std::move(report));
    }

    nlohmann::json round_evidence() const {
        auto probes = nlohmann::json::array();
        for (const auto& result : verify_results_) probes.push_back(probe_evidence(result, /*with_site=*/true));
        return probes;
    }

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

Workflow::Workflow(WorkflowPorts ports) : ports_(ports) {}

Workflow::~Workflow() {
    if (execution_) execution_->abandon();
}

void Workflow::start(const std::vector<Step>& steps, std::string incident, std::vector<SiteConfig> sites_to_verify,
                     bool dry_run, std::function<void(Outcome)> done) {
    start(Request{steps, std::move(incident), std::move(sites_to_verify), dry_run, std::nullopt, {}}, std::move(done));
}

void Workflow::start(Request request, std::function<void(Outcome)> done) {
    if (running()) throw std::logic_error("a repair workflow is already running");
    auto execution = std::make_shared<Execution>(ports_, std::move(request), std::move(done));
    execution_ = execution;
    execution->begin();  // may finish and let the owner destroy *this: touch nothing afterwards
}

void Workflow::cancel() {
    if (auto execution = execution_) execution->cancel();  // the local copy keeps the execution alive if done destroys *this
}

bool Workflow::running() const { return execution_ && !execution_->finished(); }

}  // namespace certheal
