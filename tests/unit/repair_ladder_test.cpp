// The repair ladder on fakes and the FakeClock: which stages run, which are skipped, where it
// stops, what it says. An IIS host: trust re-sync first, then W3SVC, then IISADMIN with its
// dependents; the fake sites heal after whichever stage the test says cures them.

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>

#include "core/repair/repair_ladder.hpp"
#include "support/fakes.hpp"
#include "support/workflow_fakes.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path kIisca = "/opt/iis/iisca";

SiteConfig site(const std::string& name) {
    SiteConfig config;
    config.name = name;
    config.url = "https://" + name + ".test/health";
    config.timeout = 5s;
    return config;
}

const std::set<ProbeClass> kRestartClasses{ProbeClass::client_cert_rejected, ProbeClass::connect_failed};

// trust (no downtime) -> restart web service -> restart IIS with dependents.
RemediationConfig iis_ladder() {
    RemediationConfig remediation;
    remediation.verify = VerifyStep{2, 5s};
    remediation.stages = {
        RepairStage{"trust", {Step{RunStep{kIisca, {"/sync"}}, 1min}}, {}, std::nullopt},
        RepairStage{"restart web service",
                    {Step{StopServiceStep{"W3SVC", false}, 2min}, Step{StartServiceStep{"W3SVC"}, 2min}},
                    {kRestartClasses, {}},
                    std::nullopt},
        RepairStage{"restart IIS with dependents",
                    {Step{StopServiceStep{"IISADMIN", true}, 2min}, Step{StartServiceStep{"W3SVC"}, 2min},
                     Step{RestoreDependentsStep{}, 2min}},
                    {kRestartClasses, {}},
                    VerifyStep{3, 10s}},
    };
    return remediation;
}

enum class Cure { trust, web_service_restart, iis_restart, nothing };

struct Harness : WorkflowFakes {
    InlineWorkerPool pool;
    std::unique_ptr<RepairLadder> ladder = std::make_unique<RepairLadder>(ports(pool));
    std::vector<RepairLadder::Outcome> outcomes;
    Cure cure = Cure::trust;

    Harness() {
        add_iis_services();
        processes.set_default(exited(0));
        prober.set_function([this](const SiteConfig& probed) {
            return probe_result(probed.name, healed() ? ProbeClass::healthy : ProbeClass::client_cert_rejected);
        });
    }

    bool healed() const {
        const auto transitions = services.transitions();
        const auto happened = [&](const std::string& what) {
            return std::find(transitions.begin(), transitions.end(), what) != transitions.end();
        };
        switch (cure) {
            case Cure::trust: return !processes.calls().empty();
            case Cure::web_service_restart: return happened("started W3SVC");
            case Cure::iis_restart: return happened("stopped IISADMIN") && services.is_running("W3SVC");
            case Cure::nothing: return false;
        }
        return false;
    }

    void start(const RemediationConfig& remediation, IncidentFacts facts = {ProbeClass::client_cert_rejected, {}},
               bool dry_run = false) {
        ladder->start(remediation, "inc-1", facts, {site("intranet")}, dry_run,
                      [this](RepairLadder::Outcome outcome) { outcomes.push_back(std::move(outcome)); });
    }

    // Runs the FakeClock until the ladder has finished (the verify rounds wait on it).
    void run_to_end() {
        for (int i = 0; i < 100 && outcomes.empty(); ++i) clock.advance(1s);
    }

    const RepairLadder::Outcome& outcome() const {
        REQUIRE(outcomes.size() == 1);
        return outcomes.front();
    }

    std::vector<std::string> stage_story() const {
        std::vector<std::string> story;
        for (const auto& event : sink.events()) {
            const auto name = std::string(definition_of(event.id).name);
            if (name.rfind("stage_", 0) == 0) story.push_back(name + " " + event.details.at("stage").get<std::string>());
        }
        return story;
    }
};

}  // namespace

TEST_CASE("a ladder whose first stage heals the sites stops there: no service is restarted", "[ladder]") {
    Harness h;
    h.cure = Cure::trust;
    h.start(iis_ladder());
    h.run_to_end();

    const auto& outcome = h.outcome();
    CHECK(outcome.succeeded);
    CHECK(outcome.verified);
    CHECK(outcome.stage == "trust");
    CHECK(outcome.stage_number == 1u);
    CHECK(outcome.stages_run == 1);
    CHECK(outcome.stage_count == 3);
    CHECK(h.services.calls().empty());  // neither W3SVC nor IISADMIN was touched
    CHECK(h.stage_story() == std::vector<std::string>{"stage_started trust", "stage_succeeded trust"});
    const auto succeeded = h.sink.last(EventId::stage_succeeded);
    REQUIRE(succeeded);
    CHECK(succeeded->incident == "inc-1");
    CHECK(succeeded->details.at("stage_number") == 1);
    CHECK(succeeded->details.at("stages_run") == 1);
    CHECK(succeeded->message == "The sites were healthy after stage 1 of 3; the more disruptive stages after it did not run.");
    // The stage's own verify is its last step, and says so.
    const auto verify = h.sink.last(EventId::step_succeeded);
    REQUIRE(verify);
    CHECK(verify->details.at("stage_verify") == true);
    CHECK(verify->details.at("stage") == "trust");
    CHECK(verify->message == "Step 2 of 2 of stage 1 of 3 (the stage's verify) succeeded.");
}

TEST_CASE("a ladder healed only by its third stage runs every stage in order and says why each went on",
          "[ladder]") {
    Harness h;
    h.cure = Cure::iis_restart;
    h.start(iis_ladder());
    h.run_to_end();

    const auto& outcome = h.outcome();
    CHECK(outcome.succeeded);
    CHECK(outcome.stage == "restart IIS with dependents");
    CHECK(outcome.stage_number == 3u);
    CHECK(outcome.stages_run == 3);
    CHECK(h.stage_story() == std::vector<std::string>{"stage_started trust", "stage_failed trust",
                                                      "stage_started restart web service",
                                                      "stage_failed restart web service",
                                                      "stage_started restart IIS with dependents",
                                                      "stage_succeeded restart IIS with dependents"});
    for (const auto& failed : h.sink.all(EventId::stage_failed)) {
        CHECK(failed.details.at("not_healed") == true);
        CHECK_THAT(failed.message, Catch::Contains("certheal goes on with the next stage"));
    }
    CHECK(h.sink.all(EventId::stage_failed).front().details.at("next_stage") == "restart web service");
    CHECK(h.services.call_log() == std::vector<std::string>{"stop W3SVC", "start W3SVC", "stop IISADMIN /y",
                                                            "start W3SVC", "start FTPSVC", "start W3SVC"});
    CHECK(h.services.is_running("FTPSVC"));
    // Each stage probed the site: 2 rounds after stage 1, 2 after stage 2, 1 after stage 3.
    CHECK(h.prober.calls().size() == 5);
}

TEST_CASE("a ladder that heals nothing runs every stage once and fails with each stage's reason", "[ladder]") {
    Harness h;
    h.cure = Cure::nothing;
    h.start(iis_ladder());
    h.run_to_end();

    const auto& outcome = h.outcome();
    CHECK_FALSE(outcome.succeeded);
    CHECK_FALSE(outcome.cancelled);
    CHECK_FALSE(outcome.stage.has_value());
    CHECK(outcome.stages_run == 3);
    CHECK(h.sink.count(EventId::stage_failed) == 3);
    CHECK(h.sink.count(EventId::stage_succeeded) == 0);
    CHECK_THAT(outcome.error, Catch::Contains("no stage of the repair ladder made the sites healthy (3 of 3 ran"));
    CHECK_THAT(outcome.error, Catch::Contains("stage 3 of 3 (restart IIS with dependents)"));
    CHECK(h.sink.all(EventId::stage_failed).back().details.at("next_stage").is_null());
    CHECK_THAT(h.sink.all(EventId::stage_failed).back().message, Catch::Contains("It was the last stage;"));
}

TEST_CASE("stages whose when does not match the incident's class are skipped and said so", "[ladder]") {
    Harness h;
    h.cure = Cure::nothing;
    // An invalid client certificate: no trust re-sync or restart cures it, so no restart runs.
    h.start(iis_ladder(), {ProbeClass::client_cert_invalid, {}});
    h.run_to_end();

    const auto& outcome = h.outcome();
    CHECK_FALSE(outcome.succeeded);
    CHECK(outcome.stages_run == 1);
    CHECK(h.services.calls().empty());
    CHECK(h.stage_story() == std::vector<std::string>{"stage_started trust", "stage_failed trust",
                                                      "stage_skipped restart web service",
                                                      "stage_skipped restart IIS with dependents"});
    const auto skipped = h.sink.last(EventId::stage_skipped);
    REQUIRE(skipped);
    CHECK(skipped->details.at("class") == "client_cert_invalid");
    CHECK(skipped->details.at("when").at("class") == nlohmann::json{"client_cert_rejected", "connect_failed"});
    CHECK(skipped->message == "Stage 3 of 3 was skipped: its `when` does not match the incident (see reason).");
    CHECK_THAT(skipped->details.at("reason").get<std::string>(),
               Catch::Contains("its when lists the class client_cert_rejected or connect_failed, "
                               "and the incident's class is client_cert_invalid"));
    CHECK(outcome.stages.at(1).state == RepairLadder::StageResult::State::skipped);
}

TEST_CASE("a stage's when on the diagnosis' cause runs only for that cause, and never without a diagnosis",
          "[ladder]") {
    RemediationConfig remediation = iis_ladder();
    remediation.stages[0].when.causes = {TrustCause::issuer_missing_from_binding_store, TrustCause::ca_not_trusted};

    const IncidentFacts matching{ProbeClass::client_cert_rejected, TrustCause::ca_not_trusted};
    const IncidentFacts other{ProbeClass::client_cert_rejected, TrustCause::ip_binding_shadows_sni};
    const IncidentFacts undiagnosed{ProbeClass::client_cert_rejected, std::nullopt};
    CHECK_FALSE(stage_mismatch(remediation.stages[0].when, matching).has_value());
    CHECK(stage_mismatch(remediation.stages[0].when, other) ==
          "its when lists the cause ca_not_trusted or issuer_missing_from_binding_store, and the host trust "
          "diagnosis named ip_binding_shadows_sni");
    CHECK_THAT(stage_mismatch(remediation.stages[0].when, undiagnosed).value_or(""),
               Catch::Contains("no host trust diagnosis named a cause for this incident"));

    Harness h;
    h.cure = Cure::web_service_restart;
    h.start(remediation, other);
    h.run_to_end();
    CHECK(h.outcome().succeeded);
    CHECK(h.outcome().stage == "restart web service");
    CHECK(h.outcome().stages_run == 1);  // the skipped stage does not count
    CHECK(h.processes.calls().empty());
    CHECK(h.stage_story().front() == "stage_skipped trust");
}

TEST_CASE("a dry run of a ladder shows every stage that would run and every one that would be skipped, and changes "
          "nothing",
          "[ladder][dry_run]") {
    Harness h;
    RemediationConfig remediation = iis_ladder();
    remediation.stages[2].when.classes = {ProbeClass::connect_failed};
    h.start(remediation, {ProbeClass::client_cert_rejected, {}}, /*dry_run=*/true);
    h.run_to_end();

    const auto& outcome = h.outcome();
    CHECK(outcome.succeeded);
    CHECK(outcome.stages_run == 2);
    CHECK(h.services.calls().empty());
    CHECK(h.processes.calls().empty());
    CHECK(h.prober.calls().empty());  // nothing changed, so nothing to verify
    CHECK(h.stage_story() == std::vector<std::string>{"stage_started trust", "stage_started restart web service",
                                                      "stage_skipped restart IIS with dependents"});
    for (const auto& started : h.sink.all(EventId::stage_started)) {
        CHECK(started.details.at("dry_run") == true);
        CHECK_THAT(started.message, Catch::StartsWith("Dry run: Stage ") && Catch::Contains(" would run: "));
    }
    // Every step of the two stages, their verifies included, says what it would do.
    CHECK(h.sink.count(EventId::step_succeeded) == 2 + 3);
    CHECK(h.sink.events().at(1).message == "Dry run: step 1 of 2 of stage 1 of 3 (run) would run; certheal changed nothing.");
    CHECK(h.sink.events().at(1).details.at("description") == "run /opt/iis/iisca /sync");
    CHECK(h.sink.events().at(1).details.at("stage") == "trust");

    const auto plan = plan_ladder(remediation, {ProbeClass::client_cert_rejected, {}}, {site("intranet")});
    const auto lines = ladder_plan_lines(plan);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "stage 1 of 3 (trust): would run: run /opt/iis/iisca /sync; verify: up to 2 probes, 5s apart.");
    CHECK(lines[1] == "stage 2 of 3 (restart web service): would run only if the stages before it do not heal the "
                      "sites: stop_service W3SVC; start_service W3SVC; verify: up to 2 probes, 5s apart.");
    CHECK(lines[2] == "stage 3 of 3 (restart IIS with dependents): would be skipped, because its when lists the class "
                      "connect_failed, and the incident's class is client_cert_rejected.");
    CHECK(ladder_plan_json(plan).at(2).at("runs") == false);
}

TEST_CASE("a stage's verify is its own, else the remediation's, with a timeout that covers every round",
          "[ladder]") {
    const auto remediation = iis_ladder();
    SiteConfig slow = site("slow");
    slow.timeout = 20s;
    const auto first = stage_steps(remediation.stages[0], remediation.verify, {site("intranet"), slow});
    REQUIRE(first.size() == 2);
    CHECK(std::get<VerifyStep>(first.back().action).attempts == 2);
    CHECK(std::get<VerifyStep>(first.back().action).delay == 5s);
    CHECK(first.back().timeout == 2 * (20s + 5s));
    const auto third = stage_steps(remediation.stages[2], remediation.verify, {site("intranet")});
    CHECK(std::get<VerifyStep>(third.back().action).attempts == 3);
    CHECK(third.back().timeout == 3 * (10s + 10s));  // a site timeout under 10 s counts as 10 s
}

TEST_CASE("dependents a failed stage left stopped are started again by the next stage's restore_dependents",
          "[ladder]") {
    Harness h;
    h.cure = Cure::iis_restart;
    RemediationConfig remediation = iis_ladder();
    remediation.stages[1].steps = {Step{StopServiceStep{"IISADMIN", true}, 2min}, Step{StartServiceStep{"W3SVC"}, 2min}};
    h.services.fail_next(ServiceCall::Kind::start, "W3SVC", Failure{std::make_error_code(std::errc::timed_out), "timed out"});
    h.start(remediation);
    h.run_to_end();

    CHECK(h.outcome().succeeded);
    CHECK(h.outcome().stage == "restart IIS with dependents");
    const auto failed = h.sink.all(EventId::stage_failed);
    REQUIRE(failed.size() == 2);
    CHECK(failed[1].details.at("not_healed") == false);  // a step failed: the stage did not get to its verify
    CHECK(failed[1].details.at("failed_step") == 2);
    CHECK(h.services.is_running("FTPSVC"));  // stopped in stage 2, started again in stage 3
}

TEST_CASE("a cancel during a stage ends the ladder: no later stage starts", "[ladder]") {
    Harness h;
    h.cure = Cure::nothing;
    h.start(iis_ladder());
    h.clock.advance(1s);  // stage 1's verify waits between its rounds
    REQUIRE(h.outcomes.empty());
    h.ladder->cancel();
    const auto& outcome = h.outcome();
    CHECK(outcome.cancelled);
    CHECK_FALSE(outcome.succeeded);
    CHECK(outcome.stages_run == 1);
    CHECK(h.services.calls().empty());
    CHECK(h.sink.count(EventId::stage_started) == 1);
    CHECK_FALSE(h.ladder->running());
}

TEST_CASE("remediation.steps runs as one list exactly as before: no stage events, no verify of its own",
          "[ladder]") {
    Harness h;
    RemediationConfig remediation;
    remediation.steps = {Step{RunStep{kIisca, {}}, 1min}, Step{StopServiceStep{"IISADMIN", true}, 2min},
                         Step{StartServiceStep{"W3SVC"}, 2min}, Step{RestoreDependentsStep{}, 2min}};
    h.start(remediation);
    const auto& outcome = h.outcome();
    CHECK(outcome.succeeded);
    CHECK_FALSE(outcome.verified);
    CHECK_FALSE(outcome.ladder());
    CHECK(h.prober.calls().empty());
    CHECK(h.stage_story().empty());
    CHECK(h.sink.count(EventId::step_succeeded) == 4);
    CHECK_FALSE(h.sink.events().front().details.contains("stage"));
    CHECK_THAT(h.sink.events().front().message, Catch::StartsWith("Repair step 1 of 4 (run) "));
}

TEST_CASE("destroying a running ladder abandons it without calling back", "[ladder]") {
    Harness h;
    h.cure = Cure::nothing;
    h.start(iis_ladder());
    h.ladder.reset();
    h.clock.advance(1min);
    CHECK(h.outcomes.empty());
}
