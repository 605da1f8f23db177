// The workflow's verify step: rounds of probes of the symptomatic sites, a delay apart, within
// the step's timeout.

#include "core/describe/step_sentences.hpp"
#include "core/repair/workflow_execution.hpp"

#include <algorithm>

namespace certheal {

void Workflow::Execution::begin_step(const VerifyStep& verify) {
    verify_round_ = 0;
    verify_attempts_ = std::max(verify.attempts, 1);
    if (sites_.empty()) {
        StepReport report;
        report.summary = no_site_to_verify_summary();
        report.extra["rounds"] = 0;
        step_succeeded(report);
        return;
    }
    verify_deadline_ = ports_.clock.after(step().timeout, [weak = weak()] {
        if (auto self = weak.lock()) self->verify_timed_out();
    });
    start_verify_round();
}

void Workflow::Execution::start_verify_round() {
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

void Workflow::Execution::probe_returned(std::uint64_t generation, std::size_t site, ProbeResult result) {
    if (finished_ || generation != verify_generation_) return;  // a late answer from an abandoned round
    verify_results_[site] = std::move(result);
    if (--verify_pending_ > 0) return;

    VerifyFacts facts{verify_round_, verify_attempts_, {}, is_stage_verify(), step().timeout};
    for (const auto& probed : verify_results_) {
        if (probed.probe_class != ProbeClass::healthy) {
            facts.unhealthy.push_back(unhealthy_site(probed.site, to_string(probed.probe_class), probed.status));
        }
    }
    if (facts.unhealthy.empty()) {
        verify_deadline_.reset();
        ++verify_generation_;
        StepReport report;
        verified_ = true;
        report.summary = verify_healthy_summary(facts);
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
        report.summary = verify_unhealthy_summary(facts);
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

void Workflow::Execution::verify_timed_out() {
    if (finished_) return;
    ++verify_generation_;  // probes still on the wire no longer count
    waiting_between_rounds_ = false;
    verify_delay_.reset();
    StepReport report;
    report.summary = verify_timed_out_summary(
        VerifyFacts{verify_round_, verify_attempts_, {}, is_stage_verify(), step().timeout});
    report.code = std::make_error_code(std::errc::timed_out);
    report.extra["rounds"] = verify_round_;
    report.extra["timed_out"] = true;
    step_failed(std::move(report));
}

nlohmann::json Workflow::Execution::round_evidence() const {
    auto probes = nlohmann::json::array();
    for (const auto& result : verify_results_) probes.push_back(probe_evidence(result, /*with_site=*/true));
    return probes;
}

}  // namespace certheal
