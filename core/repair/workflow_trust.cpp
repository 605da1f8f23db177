// The workflow's trust steps: trust_ca, fix_root_store, add_intermediates, set_schannel.

#include "core/describe/step_sentences.hpp"
#include "core/repair/workflow_execution.hpp"

namespace certheal {

using workflow_detail::guarded;

// --- trust_ca and fix_root_store ----------------------------------------------------------------

void Workflow::Execution::begin_step(const TrustCaStep& trust) {
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

void Workflow::Execution::trust_ca_returned(Result<TrustCaReport> result) {
    if (finished_) return;
    if (!result) {
        call_failed(result.error());
        return;
    }
    const TrustCaReport& trust = result.value();
    StepReport report;
    report.extra["target"] = trust.target;
    report.extra["already_present"] = certificates_json(trust.present);
    // A bundle with other names (hard links): the new file takes this name's place only.
    if (trust.hard_links > 1) report.extra["hard_links"] = trust.hard_links;
    const TrustCaFacts facts{trust.target,           certificates_text(trust.present), trust.present.size(),
                             certificates_text(trust.missing), trust.missing.empty(),  trust.changed,
                             trust.hard_links};
    if (dry_run_) {
        report.extra["would_add"] = certificates_json(trust.missing);
        report.extra["changed"] = false;
        dry_run_inspected(trust_ca_would(facts), report.extra);
        return;
    }
    report.extra["added"] = certificates_json(trust.missing);
    report.extra["changed"] = trust.changed;
    report.summary = trust_ca_summary(facts);
    step_succeeded(report);
}

void Workflow::Execution::begin_step(const FixRootStoreStep& fix) {
    auto slot = std::make_shared<std::optional<Result<RootStoreReport>>>();
    ports_.workers.submit(
        [&stores = ports_.stores, fix, apply = !dry_run_, slot] {
            slot->emplace(guarded<RootStoreReport>([&] { return fix_root_store(fix, stores, apply); }));
        },
        [weak = weak(), slot] {
            if (auto self = weak.lock()) self->fix_root_store_returned(std::move(**slot));
        });
}

void Workflow::Execution::fix_root_store_returned(Result<RootStoreReport> result) {
    if (finished_) return;
    if (!result) {
        call_failed(result.error());
        return;
    }
    const RootStoreReport& fix = result.value();
    StepReport report;
    report.extra["move_to"] = fix.move_to;
    const RootStoreFacts facts{fix.move_to, certificates_text(fix.moved), fix.moved.empty(), fix.changed};
    if (dry_run_) {
        report.extra["would_move"] = certificates_json(fix.moved);
        report.extra["changed"] = false;
        dry_run_inspected(fix_root_store_would(facts), report.extra);
        return;
    }
    report.extra["moved"] = certificates_json(fix.moved);
    report.extra["changed"] = fix.changed;
    report.summary = fix_root_store_summary(facts);
    step_succeeded(report);
}

// --- trust_ca "store": "auto", add_intermediates, set_schannel ------------------------------
// What each found is told by host_trust_steps (StepStory): here only the hand-off.

template <class Report, class Call>
void Workflow::Execution::begin_host_step(Call call, StepStory (*tell)(const Report&, bool)) {
    auto slot = std::make_shared<std::optional<Result<Report>>>();
    ports_.workers.submit([call = std::move(call), slot] { slot->emplace(guarded<Report>(call)); },
                          [weak = weak(), slot, tell, dry_run = dry_run_] {
                              auto self = weak.lock();
                              if (!self) return;
                              const Result<Report>& result = **slot;
                              if (!result) {
                                  self->host_step_returned(result.error());
                              } else {
                                  self->host_step_returned(tell(result.value(), dry_run));
                              }
                          });
}

// The step's story, or why it failed.
void Workflow::Execution::host_step_returned(const std::variant<StepStory, Failure>& told) {
    if (finished_) return;
    if (const auto* failed = std::get_if<Failure>(&told)) {
        call_failed(*failed);
        return;
    }
    const auto& story = std::get<StepStory>(told);
    StepReport report;
    report.extra = story.details;
    if (dry_run_) {
        dry_run_inspected(story.would, report.extra);
        return;
    }
    report.summary = story.summary;
    step_succeeded(report);
}

void Workflow::Execution::begin_trust_ca_auto(const TrustCaStep& trust) {
    begin_host_step<AutoTrustReport>(
        [&stores = ports_.stores, source = ports_.binding_trust, trust, sites = sites_, apply = !dry_run_] {
            return trust_ca_auto(trust, sites, source, stores, apply);
        },
        story_of);
}

void Workflow::Execution::begin_step(const AddIntermediatesStep& intermediates) {
    begin_host_step<IntermediatesReport>(
        [&stores = ports_.stores, intermediates, apply = !dry_run_] {
            return add_intermediates(intermediates, stores, apply);
        },
        story_of);
}

void Workflow::Execution::begin_step(const SetSchannelStep& schannel) {
    begin_host_step<SchannelReport>(
        [settings = ports_.schannel, schannel, apply = !dry_run_]() -> Result<SchannelReport> {
            NoSchannelSettings none;
            return set_schannel(schannel, settings != nullptr ? *settings : none, apply);
        },
        story_of);
}

}  // namespace certheal
