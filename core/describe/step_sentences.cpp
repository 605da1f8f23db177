#include "core/describe/step_sentences.hpp"

#include "core/base/duration.hpp"
#include "core/base/text.hpp"
#include "core/model/certificate_stores.hpp"

#include <variant>

namespace certheal {
namespace {

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

std::string describe_step(const Step& step) {
    std::string text(step_kind(step.action));
    if (const auto* run = std::get_if<RunStep>(&step.action)) {
        // Quoted only where a space would make the line ambiguous; certheal itself never
        // builds a command line from this.
        const auto word = [](const std::string& arg) {
            const bool needs_quotes = arg.empty() || arg.find_first_of(" \t\"") != std::string::npos;
            if (!needs_quotes) return arg;
            std::string quoted = "\"";
            for (char c : arg) quoted += c == '"' ? std::string("\\\"") : std::string(1, c);
            return quoted + "\"";
        };
        text += " " + word(run->program.string());
        for (const auto& arg : run->args) text += " " + word(arg);
    } else if (const auto* stop = std::get_if<StopServiceStep>(&step.action)) {
        text += " " + stop->service;
        if (stop->with_dependents) text += " with dependents";
    } else if (const auto* start = std::get_if<StartServiceStep>(&step.action)) {
        text += " " + start->service;
    } else if (const auto* verify = std::get_if<VerifyStep>(&step.action)) {
        text += ": up to " + std::to_string(verify->attempts) + " probes, " + format_duration(verify->delay) + " apart";
    } else if (const auto* trust = std::get_if<TrustCaStep>(&step.action)) {
        text += " " + trust->certificate.string() + " into ";
        if (const auto* store = std::get_if<CertificateStoreTarget>(&trust->target)) {
            text += local_machine_store(store->store);
        } else if (const auto* bundle = std::get_if<PemBundleTarget>(&trust->target)) {
            text += bundle->bundle.string();
        } else {
            text += "the store Schannel trusts for each site's binding (auto)";
        }
    } else if (const auto* fix = std::get_if<FixRootStoreStep>(&step.action)) {
        text += ": move certificates that are not self-signed from LocalMachine\\Root to " + local_machine_store(fix->move_to);
    } else if (const auto* intermediates = std::get_if<AddIntermediatesStep>(&step.action)) {
        text += " " + intermediates->certificate.string() + " into LocalMachine\\CA";
    } else if (const auto* schannel = std::get_if<SetSchannelStep>(&step.action)) {
        std::vector<std::string> values;
        if (schannel->client_auth_trust_mode) {
            values.push_back("ClientAuthTrustMode=" + std::to_string(*schannel->client_auth_trust_mode));
        }
        if (schannel->send_trusted_issuer_list) {
            values.push_back(std::string("SendTrustedIssuerList=") + (*schannel->send_trusted_issuer_list ? "1" : "0"));
        }
        for (std::size_t i = 0; i < values.size(); ++i) text += (i == 0 ? " " : ", ") + values[i];
    }
    return text;
}


// --- a step event's message ------------------------------------------------------------------

std::string step_label(const StepPlace& place) {
    std::string where = "step " + std::to_string(place.number) + " of " + std::to_string(place.count);
    if (place.stage) {
        where += " of stage " + std::to_string(place.stage->number) + " of " + std::to_string(place.stage->count);
    }
    const std::string kind = place.stage_verify ? "the stage's verify" : place.kind;
    return (place.stage ? "Step" : "Repair step") + where.substr(4) + " (" + kind + ")";
}

std::string step_succeeded_message(const StepPlace& place) { return step_label(place) + " succeeded."; }

std::string step_failed_message(const StepFailureFacts& facts) {
    const bool in_stage = facts.place.stage.has_value();
    const std::string how = facts.exit_code && *facts.exit_code != 0
                                ? ": the program exited with code " + std::to_string(*facts.exit_code)
                                : std::string();
    return (facts.dry_run ? "Dry run: " : "") + step_label(facts.place) + " failed" + how + "." +
           (facts.stopping               ? " certheal is stopping."
            : in_stage && facts.dry_run ? " The real stage would stop here."
            : in_stage                  ? " The stage stopped here; see the error."
            : facts.dry_run             ? " The real repair would stop here."
            : facts.with_output         ? " The repair stopped here; see the error and the output."
                                        : " The repair stopped here; see the error.");
}

std::string dry_run_step_message(const StepPlace& place) {
    std::string label = step_label(place);
    label[0] = label[0] == 'R' ? 'r' : 's';  // "Repair step ..." or "Step ..." inside the sentence
    return "Dry run: " + label + " would run; certheal changed nothing.";
}

// --- what ended the workflow -------------------------------------------------------------------

std::string step_failed_error(std::size_t index, const Step& step, const std::string& summary) {
    return "Step " + std::to_string(index + 1) + " (" + describe_step(step) + ") failed: " + summary;
}

std::string workflow_cancelled_error(const WorkflowCancelledFacts& facts) {
    using When = WorkflowCancelledFacts::When;
    std::string error = "certheal cancelled the repair for incident " + facts.incident + " because it is stopping";
    if (facts.step && facts.when == When::during_step) {
        error += " during step " + std::to_string(facts.index + 1) + " (" + describe_step(*facts.step) + ")";
    } else if (facts.step && facts.when == When::before_step) {
        error += " before step " + std::to_string(facts.index + 1) + " (" + describe_step(*facts.step) + ")";
    }
    error += "; the remaining steps were not run, so check the services on this host.";
    return error;
}

std::string stage_title(std::size_t number, std::size_t count, const std::string& name) {
    return "stage " + std::to_string(number) + " of " + std::to_string(count) + " (" + name + ")";
}

namespace {
// "Stage 2 of 3"
std::string stage_place(const StagePosition& stage) {
    return "Stage " + std::to_string(stage.number) + " of " + std::to_string(stage.count);
}
std::string lowercase_stage(const StagePosition& stage) { return "s" + stage_place(stage).substr(1); }
std::string dry_run_prefix(bool dry_run) { return dry_run ? "Dry run: " : ""; }
}  // namespace

std::string stage_skipped_message(const StagePosition& stage, bool dry_run) {
    return dry_run_prefix(dry_run) + stage_place(stage) +
           " was skipped: its `when` does not match the incident (see reason).";
}

std::string stage_started_message(const StagePosition& stage, bool dry_run, std::size_t step_count) {
    return dry_run_prefix(dry_run) + stage_place(stage) + (dry_run ? " would run: " : " started: ") +
           std::to_string(step_count) + (step_count == 1 ? " step" : " steps") + ", then a probe of the sites" +
           (stage.last() ? "; it is the last stage." : "; the next stage follows if they are not healthy.");
}

std::string stage_succeeded_message(const StagePosition& stage) {
    return "The sites were healthy after " + lowercase_stage(stage) +
           (stage.last() ? "." : "; the more disruptive stages after it did not run.");
}

std::string stage_failed_message(const StageFailureFacts& facts) {
    return (facts.not_healed ? "The sites were still not healthy after " + lowercase_stage(facts.stage)
                             : stage_place(facts.stage) + " failed at step " + std::to_string(facts.failed_step)) +
           (facts.stage.last() ? ". It was the last stage; see the error." : ". certheal goes on with the next stage.");
}

std::string ladder_cancelled_error(const std::string& incident, const std::optional<std::string>& before_stage) {
    return "certheal cancelled the repair for incident " + incident + " because it is stopping" +
           (before_stage ? ", before " + *before_stage : std::string()) + "; check the services on this host.";
}

std::string step_failure_clause(const Step& step) {
    if (const auto* run = std::get_if<RunStep>(&step.action)) return "certheal could not start " + run->program.string();
    if (const auto* stop = std::get_if<StopServiceStep>(&step.action)) {
        return "certheal could not stop the service " + stop->service;
    }
    if (const auto* start = std::get_if<StartServiceStep>(&step.action)) {
        return "certheal could not start the service " + start->service;
    }
    if (const auto* trust = std::get_if<TrustCaStep>(&step.action)) {
        if (std::holds_alternative<AutoStoreTarget>(trust->target)) {
            return "certheal could not make the store Schannel trusts trust the CA";
        }
        const auto* store = std::get_if<CertificateStoreTarget>(&trust->target);
        const std::string target =
            store != nullptr ? local_machine_store(store->store) : std::get<PemBundleTarget>(trust->target).bundle.string();
        return "certheal could not make " + target + " trust the CA";
    }
    if (std::holds_alternative<FixRootStoreStep>(step.action)) return "certheal could not clean up LocalMachine\\Root";
    if (std::holds_alternative<AddIntermediatesStep>(step.action)) {
        return "certheal could not add the intermediate CA certificates to LocalMachine\\CA";
    }
    if (std::holds_alternative<SetSchannelStep>(step.action)) return "certheal could not change the Schannel settings";
    return {};
}

std::string step_cancelled_summary() { return "certheal cancelled this step because it is stopping."; }

// --- run -----------------------------------------------------------------------------------------

std::string run_summary(const RunFacts& facts) {
    const ProcessOutcome& outcome = facts.outcome;
    if (outcome.cancelled) {
        return facts.program + " was stopped because certheal is stopping; certheal killed its process tree" +
               killed_clause(outcome) + "." + survivors_sentence(outcome);
    }
    if (outcome.timed_out) {
        return facts.program + " did not finish within its timeout of " + format_duration(facts.timeout) +
               ", so certheal killed its process tree" + killed_clause(outcome) + "; check what it waits for." +
               survivors_sentence(outcome);
    }
    // A program that started a daemon (a service start script) leaves it running by design;
    // the event names it, since an admin may want to know.
    const std::string left_behind =
        outcome.left_running.empty()
            ? std::string()
            : "; it left " + process_count(outcome.left_running) + " running (" + join(outcome.left_running) + ")";
    if (outcome.exit_code != 0) {
        return facts.program + " exited with code " + std::to_string(outcome.exit_code) + left_behind +
               ".";  // what it printed is output_tail, and under the step in history
    }
    return facts.program + " exited with code 0" + left_behind;
}

// --- services --------------------------------------------------------------------------------------

std::string service_stopped_summary(const std::string& service, const std::vector<std::string>& dependents) {
    return dependents.empty() ? "stopped " + service
                              : "stopped " + service + " after its running dependents " + list_text(dependents);
}

std::string service_started_summary(const std::string& service) { return "started " + service; }

std::string nothing_to_restore_summary() { return "no dependent service had to be started again"; }

std::string restore_not_attempted(const std::string& service, Duration timeout) {
    return service + " (not attempted: the step's timeout of " + format_duration(timeout) + " ran out)";
}

std::string restore_failed(const std::string& service, const std::string& cause) {
    return service + " (" + cause + ")";
}

std::string restore_failed_summary(const std::vector<std::string>& failures, const std::vector<std::string>& restored) {
    return "certheal could not start again the dependent services " + list_text(failures) +
           (restored.empty() ? "." : "; it did start " + list_text(restored) + ".");
}

std::string restored_summary(const std::vector<std::string>& restored) { return "started again " + list_text(restored); }

// --- trust_ca into a store or bundle, fix_root_store ------------------------------------------------

namespace {

// A bundle with other names (hard links): the new file takes this name's place only.
std::string other_names_note(const TrustCaFacts& facts, bool would) {
    if (facts.hard_links <= 1) return {};
    const auto others = std::to_string(facts.hard_links - 1);
    return "; the bundle has " + std::to_string(facts.hard_links) + " names (hard links), and certheal " +
           (would ? "would put" : "put") + " a new file in place of " + facts.target + " only, so the other " + others +
           (facts.hard_links == 2 ? " name keeps" : " names keep") + " the old contents: point the web server at " +
           facts.target + " or link the other names to it again";
}

}  // namespace

std::string trust_ca_would(const TrustCaFacts& facts) {
    return facts.nothing_missing ? "would change nothing: " + facts.present + " already in " + facts.target
                                 : "would add " + facts.missing + " to " + facts.target + other_names_note(facts, true);
}

std::string trust_ca_summary(const TrustCaFacts& facts) {
    return facts.changed ? "added " + facts.missing + " to " + facts.target + other_names_note(facts, false)
                         : facts.present + (facts.present_count == 1 ? " was" : " were") + " already in " +
                               facts.target + "; nothing changed";
}

std::string fix_root_store_would(const RootStoreFacts& facts) {
    return facts.nothing_to_move
               ? "would change nothing: LocalMachine\\Root holds only self-signed certificates"
               : "would move " + facts.moved + " from LocalMachine\\Root to " + facts.move_to;
}

std::string fix_root_store_summary(const RootStoreFacts& facts) {
    return facts.changed ? "moved " + facts.moved + ", which are not self-signed, from LocalMachine\\Root to " +
                               facts.move_to
                         : "LocalMachine\\Root holds only self-signed certificates; nothing changed";
}

// --- verify ------------------------------------------------------------------------------------------

std::string no_site_to_verify_summary() { return "there was no site to verify"; }

std::string unhealthy_site(const std::string& site, std::string_view probe_class, std::optional<int> status) {
    std::string item = site + " (" + std::string(probe_class);
    if (status) item += ", HTTP " + std::to_string(*status);
    return item + ")";
}

std::string verify_healthy_summary(const VerifyFacts& facts) {
    return "every site answered healthy in round " + std::to_string(facts.round) + " of " +
           std::to_string(facts.attempts);
}

std::string verify_unhealthy_summary(const VerifyFacts& facts) {
    return "after " + std::to_string(facts.round) + " rounds of probes, " + list_text(facts.unhealthy) +
           (facts.unhealthy.size() == 1 ? " was" : " were") +
           (facts.stage_verify ? " still not healthy after this stage."
                               : " still not healthy; check the site and the client-certificate trust "
                                 "by hand.");
}

std::string verify_timed_out_summary(const VerifyFacts& facts) {
    return "the sites were not all healthy within the step's timeout of " + format_duration(facts.timeout) + " (" +
           std::to_string(facts.round) +
           " rounds of probes started); check the site and the client-certificate trust by hand.";
}

}  // namespace certheal
