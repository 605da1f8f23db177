#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include "core/repair/workflow.hpp"
#include "core/probe/certificate_info.hpp"
#include "support/fakes.hpp"
#include "support/pki.hpp"
#include "support/shared_pki.hpp"
#include "support/workflow_fakes.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;
using Kind = ServiceCall::Kind;

namespace {

const std::filesystem::path kIisca = "/opt/iis/iisca";

Step run_step(std::filesystem::path program, std::vector<std::string> args = {}, Duration timeout = 1min) {
    return Step{RunStep{std::move(program), std::move(args)}, timeout};
}
Step stop_step(std::string service, bool with_dependents) {
    return Step{StopServiceStep{std::move(service), with_dependents}, 2min};
}
Step start_step(std::string service) { return Step{StartServiceStep{std::move(service)}, 2min}; }
Step restore_step() { return Step{RestoreDependentsStep{}, 2min}; }
Step verify_step(int attempts, Duration delay, Duration timeout = 5min) {
    return Step{VerifyStep{attempts, delay}, timeout};
}

// The seed's repair: IISCA, net stop IISADMIN /y, net start W3SVC, then what certheal adds.
std::vector<Step> seed_steps() {
    return {run_step(kIisca, {"/sync"}), stop_step("IISADMIN", true), start_step("W3SVC"), restore_step(),
            verify_step(5, 10s)};
}

SiteConfig site(const std::string& name) {
    SiteConfig config;
    config.name = name;
    config.url = "https://" + name + ".test/health";
    return config;
}

template <class Pool>
struct Harness : WorkflowFakes {
    Pool pool;
    std::unique_ptr<Workflow> workflow = std::make_unique<Workflow>(ports(pool));
    std::vector<Workflow::Outcome> outcomes;

    Harness() {
        // An IIS 6 host: everything web hangs off IISADMIN; SMTP is installed but not running.
        add_iis_services();
        services.add_service("SMTPSVC", false, {"IISADMIN"});
    }

    void start(const std::vector<Step>& steps, std::vector<SiteConfig> sites = {site("intranet")},
               bool dry_run = false) {
        workflow->start(steps, "inc-1", std::move(sites), dry_run,
                        [this](Workflow::Outcome outcome) { outcomes.push_back(std::move(outcome)); });
    }

    const Workflow::Outcome& outcome() const {
        REQUIRE(outcomes.size() == 1);
        return outcomes.front();
    }
};

using InlineHarness = Harness<InlineWorkerPool>;
using QueuedHarness = Harness<QueuedWorkerPool>;

std::vector<std::string> step_event_names(const RecordingSink& sink) {
    std::vector<std::string> names;
    for (const auto& name : sink.names()) {
        if (name == "step_succeeded" || name == "step_failed") names.push_back(name);
    }
    return names;
}

}  // namespace

TEST_CASE("the seed repair runs its steps in order and succeeds", "[workflow]") {
    InlineHarness h;
    h.start(seed_steps());

    const auto& outcome = h.outcome();
    CHECK(outcome.succeeded);
    CHECK_FALSE(outcome.cancelled);
    CHECK_FALSE(outcome.failed_step.has_value());

    REQUIRE(h.processes.calls().size() == 1);
    CHECK(h.processes.calls()[0].program == kIisca);
    CHECK(h.processes.calls()[0].args == std::vector<std::string>{"/sync"});
    CHECK(h.processes.calls()[0].timeout == 1min);
    CHECK(h.services.call_log() ==
          std::vector<std::string>{"stop IISADMIN /y", "start W3SVC", "start FTPSVC", "start W3SVC"});
    CHECK(h.prober.calls() == std::vector<std::string>{"intranet"});
    CHECK(step_event_names(h.sink) == std::vector<std::string>(5, "step_succeeded"));
    CHECK_FALSE(h.workflow->running());
}

TEST_CASE("restore_dependents starts again only the dependents that were running, in reverse stop order",
          "[workflow]") {
    InlineHarness h;
    h.start({stop_step("IISADMIN", true), start_step("IISADMIN"), restore_step()});

    CHECK(h.outcome().succeeded);
    CHECK(h.services.transitions() ==
          std::vector<std::string>{"stopped W3SVC", "stopped FTPSVC", "stopped IISADMIN", "started IISADMIN",
                                   "started FTPSVC", "started W3SVC"});
    CHECK(h.services.is_running("W3SVC"));
    CHECK(h.services.is_running("FTPSVC"));
    CHECK_FALSE(h.services.is_running("SMTPSVC"));  // it was not running before: certheal leaves it alone

    const auto stop = h.sink.all(EventId::step_succeeded).at(0);
    CHECK(stop.details["services"] == nlohmann::json::array({"W3SVC", "FTPSVC"}));
    const auto restore = h.sink.all(EventId::step_succeeded).at(2);
    CHECK(restore.details["kind"] == "restore_dependents");
    CHECK(restore.details["services"] == nlohmann::json::array({"FTPSVC", "W3SVC"}));
}

TEST_CASE("restore_dependents with nothing to restore succeeds without calling the service manager",
          "[workflow]") {
    InlineHarness h;
    h.start({stop_step("SMTPSVC", false), restore_step()});
    CHECK(h.outcome().succeeded);
    CHECK(h.services.call_log() == std::vector<std::string>{"stop SMTPSVC"});
}

TEST_CASE("restore_dependents keeps going past a dependent that will not start, then fails", "[workflow]") {
    InlineHarness h;
    h.services.fail_next(Kind::start, "FTPSVC",
                         Failure{std::error_code(1068, std::system_category()), "The dependency group failed to start."});
    h.start({stop_step("IISADMIN", true), restore_step(), verify_step(1, 1s)});

    const auto& outcome = h.outcome();
    CHECK_FALSE(outcome.succeeded);
    CHECK(outcome.failed_step == 1u);
    CHECK(h.services.is_running("W3SVC"));
    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.details["error_code"] == 1068);
    CHECK(failed.details["services"] == nlohmann::json::array({"W3SVC"}));
    CHECK_THAT(failed.details["error"].get<std::string>(), Catch::Contains("FTPSVC"));
    CHECK(h.prober.calls().empty());
}

TEST_CASE("a failed step stops the workflow and later steps are not called", "[workflow]") {
    InlineHarness h;
    h.services.fail_next(Kind::stop, "IISADMIN",
                         Failure{std::error_code(1061, std::system_category()),
                                 "The service IISADMIN cannot accept control messages at this time."});
    h.start(seed_steps());

    const auto& outcome = h.outcome();
    CHECK_FALSE(outcome.succeeded);
    CHECK_FALSE(outcome.cancelled);
    CHECK(outcome.failed_step == 1u);
    CHECK_THAT(outcome.error, Catch::Contains("IISADMIN") && Catch::Contains("cannot accept control messages"));

    CHECK(h.services.call_log() == std::vector<std::string>{"stop IISADMIN /y"});
    CHECK(h.prober.calls().empty());
    CHECK(step_event_names(h.sink) == std::vector<std::string>{"step_succeeded", "step_failed"});
    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.incident == "inc-1");
    CHECK(failed.details["step"] == 2);
    CHECK(failed.details["kind"] == "stop_service");
    CHECK(failed.details["error_code"] == 1061);
    CHECK_THAT(failed.message, Catch::StartsWith("Repair step 2 of 5 (stop_service) failed.") &&
                                  Catch::Contains("The repair stopped here"));
}

TEST_CASE("a program that exits non-zero fails its step with the exit code and its output", "[workflow]") {
    InlineHarness h;
    h.processes.script(kIisca, exited(5, "syncing trust list\n", "access is denied\n"));
    h.start(seed_steps());

    CHECK(h.outcome().failed_step == 0u);
    CHECK(h.services.calls().empty());
    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.details["exit_code"] == 5);
    CHECK(failed.details["output_tail"]["stdout"] == "syncing trust list\n");
    CHECK(failed.details["output_tail"]["stderr"] == "access is denied\n");
    CHECK_THAT(failed.message, Catch::Contains("exited with code 5"));
}

TEST_CASE("a program that runs past its timeout is reported as a timeout", "[workflow]") {
    InlineHarness h;
    h.processes.script(kIisca, timed_out_outcome("still working"));
    h.start({run_step(kIisca, {}, 45s), start_step("W3SVC")});

    CHECK(h.processes.calls().at(0).timeout == 45s);
    CHECK(h.outcome().failed_step == 0u);
    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.details["timed_out"] == true);
    CHECK_FALSE(failed.details.contains("exit_code"));
    CHECK(failed.details["error_code"] == static_cast<int>(std::errc::timed_out));
    CHECK_THAT(failed.details["error"].get<std::string>(), Catch::Contains("within its timeout of 45s"));
    CHECK(h.services.calls().empty());
}

TEST_CASE("a timed-out step names every process certheal killed, in its details and its sentence", "[workflow]") {
    InlineHarness h;
    ProcessOutcome outcome = timed_out_outcome();
    outcome.killed = {"1234 sh", "1240 sleep", "1250 sleep"};
    h.processes.script(kIisca, outcome);
    h.start({run_step(kIisca, {}, 1s)});

    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.details["killed_processes"] == std::vector<std::string>{"1234 sh", "1240 sleep", "1250 sleep"});
    CHECK_FALSE(failed.details.contains("left_running"));
    CHECK_THAT(failed.details["error"].get<std::string>(), Catch::Contains("did not finish within its timeout of 1s, so certheal killed its process "
                                               "tree (3 processes: 1234 sh, 1240 sleep, 1250 sleep); check what it "
                                               "waits for."));
}

TEST_CASE("a cancelled step names what it killed and what survived the kill", "[workflow]") {
    InlineHarness h;
    ProcessOutcome outcome = exited(-1);
    outcome.cancelled = true;
    outcome.killed = {"1234 iisca"};
    outcome.left_running = {"1300 stuck"};
    h.processes.script(kIisca, outcome);
    h.start({run_step(kIisca)});

    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.details["killed_processes"] == std::vector<std::string>{"1234 iisca"});
    CHECK(failed.details["left_running"] == std::vector<std::string>{"1300 stuck"});
    CHECK_THAT(failed.details["error"].get<std::string>(), Catch::Contains("certheal killed its process tree (1 process: 1234 iisca). certheal "
                                               "could not end 1 process (1300 stuck); end it by hand."));
}

TEST_CASE("a step that exits and leaves a daemon running succeeds and says what it left", "[workflow]") {
    InlineHarness h;
    ProcessOutcome outcome = exited(0);
    outcome.left_running = {"4321 nginx"};
    h.processes.script(kIisca, outcome);
    h.start({run_step(kIisca)});

    CHECK(h.outcome().succeeded);
    const auto succeeded = *h.sink.last(EventId::step_succeeded);
    CHECK(succeeded.details["left_running"] == std::vector<std::string>{"4321 nginx"});
    CHECK_FALSE(succeeded.details.contains("killed_processes"));
    CHECK(succeeded.message == "Repair step 1 of 1 (run) succeeded.");
    CHECK_THAT(succeeded.details["outcome"].get<std::string>(),
               Catch::EndsWith("iisca exited with code 0; it left 1 process running (4321 nginx)"));
}

TEST_CASE("a step that exits normally with nothing left behind has no process lists", "[workflow]") {
    InlineHarness h;
    h.start({run_step(kIisca)});
    const auto succeeded = *h.sink.last(EventId::step_succeeded);
    CHECK_FALSE(succeeded.details.contains("left_running"));
    CHECK_FALSE(succeeded.details.contains("killed_processes"));
}

TEST_CASE("a program that cannot be started fails its step with the OS error code", "[workflow]") {
    InlineHarness h;
    h.processes.script(kIisca, Failure{std::error_code(2, std::system_category()), "The file was not found."});
    h.start(seed_steps());
    CHECK(h.outcome().failed_step == 0u);
    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.details["error_code"] == 2);
    CHECK_THAT(failed.details["error"].get<std::string>(), Catch::Contains("could not start"));
}

TEST_CASE("successful steps record how long they took on the clock", "[workflow]") {
    QueuedHarness h;
    h.start({run_step(kIisca), start_step("W3SVC")});
    h.clock.advance(3s);
    REQUIRE(h.pool.run_next());
    h.clock.advance(1500ms);
    REQUIRE(h.pool.run_next());

    const auto steps = h.sink.all(EventId::step_succeeded);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].details["duration_ms"] == 3000);
    CHECK(steps[0].details["exit_code"] == 0);
    CHECK(steps[1].details["duration_ms"] == 1500);
    CHECK(steps[1].details["step"] == 2);
    CHECK(steps[1].details["steps"] == 2);
    CHECK(h.outcome().duration == 4500ms);
}

TEST_CASE("verify probes again after each delay and succeeds in the third round", "[workflow]") {
    InlineHarness h;
    h.prober.script("intranet", {ProbeClass::client_cert_rejected, ProbeClass::connect_failed, ProbeClass::healthy});
    h.start({verify_step(5, 10s)});

    CHECK(h.prober.calls().size() == 1);
    CHECK(h.outcomes.empty());
    h.clock.advance(9s);
    CHECK(h.prober.calls().size() == 1);
    h.clock.advance(1s);
    CHECK(h.prober.calls().size() == 2);
    h.clock.advance(10s);
    CHECK(h.prober.calls().size() == 3);

    CHECK(h.outcome().succeeded);
    const auto verified = *h.sink.last(EventId::step_succeeded);
    CHECK(verified.details["rounds"] == 3);
    CHECK(verified.details["duration_ms"] == 20000);
    CHECK(h.clock.pending_timers() == 0);
}

TEST_CASE("verify fails after its attempts when the site stays unhealthy", "[workflow]") {
    InlineHarness h;
    h.prober.set_function([](const SiteConfig& config) { return probe_result(config.name, ProbeClass::client_cert_rejected); });
    h.start({verify_step(3, 10s), start_step("W3SVC")});

    h.clock.advance(1h);
    CHECK(h.prober.calls().size() == 3);
    const auto& outcome = h.outcome();
    CHECK(outcome.failed_step == 0u);
    CHECK_THAT(outcome.error, Catch::Contains("intranet (client_cert_rejected, HTTP 403)"));
    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.details["rounds"] == 3);
    CHECK(failed.details["probes"][0]["class"] == "client_cert_rejected");
    CHECK(h.services.calls().empty());
}

TEST_CASE("verify needs every site healthy in the same round", "[workflow]") {
    InlineHarness h;
    h.prober.script("intranet", {ProbeClass::healthy, ProbeClass::healthy});
    h.prober.script("extranet", {ProbeClass::client_cert_rejected, ProbeClass::healthy});
    h.start({verify_step(3, 5s)}, {site("intranet"), site("extranet")});

    CHECK(h.outcomes.empty());
    h.clock.advance(5s);
    CHECK(h.outcome().succeeded);
    CHECK(h.prober.calls() == std::vector<std::string>{"intranet", "extranet", "intranet", "extranet"});
}

TEST_CASE("verify gives up when the step timeout passes, whatever its attempts", "[workflow]") {
    InlineHarness h;
    h.prober.set_function([](const SiteConfig& config) { return probe_result(config.name, ProbeClass::connect_failed); });
    h.start({verify_step(100, 10s, 25s)});

    h.clock.advance(25s);
    CHECK(h.prober.calls().size() == 3);  // rounds at 0s, 10s and 20s
    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.details["timed_out"] == true);
    CHECK_THAT(failed.details["error"].get<std::string>(), Catch::Contains("within the step's timeout of 25s"));
    CHECK_FALSE(h.outcome().succeeded);

    h.clock.advance(1h);
    CHECK(h.prober.calls().size() == 3);
    CHECK(h.outcomes.size() == 1);
}

TEST_CASE("verify ignores a probe that answers after the step timed out", "[workflow]") {
    InlineHarness h;
    h.prober.hold_results(true);
    h.start({verify_step(3, 10s, 30s)});
    h.clock.advance(30s);
    REQUIRE(h.outcomes.size() == 1);
    CHECK_FALSE(h.outcome().succeeded);

    h.prober.release_all();  // a healthy answer, too late
    CHECK(h.outcomes.size() == 1);
    CHECK(h.sink.count(EventId::step_succeeded) == 0);
}

TEST_CASE("cancel during a step lets it return, then ends the workflow as cancelled", "[workflow]") {
    QueuedHarness h;
    h.start(seed_steps());
    REQUIRE(h.pool.pending() == 1);  // the run step is "in progress"

    h.workflow->cancel();
    CHECK(h.outcomes.empty());  // not before the step returns
    CHECK(h.workflow->running());

    h.pool.run_all();
    const auto& outcome = h.outcome();
    CHECK(outcome.cancelled);
    CHECK_FALSE(outcome.succeeded);
    CHECK_THAT(outcome.error, Catch::Contains("before step 2"));
    CHECK(h.processes.calls().size() == 1);
    CHECK(h.services.calls().empty());
    CHECK(h.prober.calls().empty());
    CHECK(step_event_names(h.sink) == std::vector<std::string>{"step_succeeded"});
}

TEST_CASE("cancel reaches a blocking service call through its stop token", "[workflow]") {
    QueuedHarness h;
    h.services.block_until_cancelled(Kind::stop, "IISADMIN");
    h.start(seed_steps());
    REQUIRE(h.pool.run_next());  // IISCA
    REQUIRE(h.pool.pending() == 1);  // stop IISADMIN /y is now in progress

    h.workflow->cancel();
    h.pool.run_all();  // the blocked stop returns because its token was cancelled

    const auto& outcome = h.outcome();
    CHECK(outcome.cancelled);
    CHECK_THAT(outcome.error, Catch::Contains("during step 2"));
    CHECK(h.services.call_log() == std::vector<std::string>{"stop IISADMIN /y"});
    const auto failed = *h.sink.last(EventId::step_failed);
    CHECK(failed.details["cancelled"] == true);
    CHECK(failed.details["error_code"] == static_cast<int>(std::errc::operation_canceled));
}

TEST_CASE("cancel while waiting between verify rounds ends the workflow at once", "[workflow]") {
    InlineHarness h;
    h.prober.set_function([](const SiteConfig& config) { return probe_result(config.name, ProbeClass::connect_failed); });
    h.start({verify_step(5, 10s), start_step("W3SVC")});
    REQUIRE(h.outcomes.empty());

    h.workflow->cancel();
    CHECK(h.outcome().cancelled);
    CHECK(h.clock.pending_timers() == 0);
    h.clock.advance(1h);
    CHECK(h.prober.calls().size() == 1);
    CHECK(h.services.calls().empty());
    CHECK(h.outcomes.size() == 1);
}

TEST_CASE("cancel on an idle workflow does nothing", "[workflow]") {
    InlineHarness h;
    h.workflow->cancel();
    h.start({start_step("W3SVC")});
    h.workflow->cancel();
    CHECK(h.outcome().succeeded);
}

TEST_CASE("the owner may destroy the workflow inside done", "[workflow]") {
    SECTION("with steps completing inline") {
        InlineHarness h;
        int calls = 0;
        h.workflow->start(seed_steps(), "inc-1", {site("intranet")}, false, [&](Workflow::Outcome) {
            ++calls;
            h.workflow.reset();
        });
        CHECK(calls == 1);
        CHECK_FALSE(h.workflow);
    }
    SECTION("with steps completing later") {
        QueuedHarness h;
        int calls = 0;
        h.workflow->start(seed_steps(), "inc-1", {site("intranet")}, false, [&](Workflow::Outcome) {
            ++calls;
            h.workflow.reset();
        });
        h.pool.run_all();
        CHECK(calls == 1);
        CHECK_FALSE(h.workflow);
    }
    SECTION("when cancel() ends it") {
        InlineHarness h;
        h.prober.set_function([](const SiteConfig& config) { return probe_result(config.name, ProbeClass::timeout); });
        int calls = 0;
        h.workflow->start({verify_step(5, 10s)}, "inc-1", {site("intranet")}, false, [&](Workflow::Outcome) {
            ++calls;
            h.workflow.reset();
        });
        h.workflow->cancel();
        CHECK(calls == 1);
        h.clock.advance(1h);
        CHECK(calls == 1);
    }
}

TEST_CASE("destroying a running workflow stops its call and never reports", "[workflow]") {
    QueuedHarness h;
    h.start(seed_steps());
    h.workflow.reset();
    h.pool.run_all();
    CHECK(h.outcomes.empty());
    CHECK(h.processes.calls().size() == 1);
    CHECK(h.services.calls().empty());
}

TEST_CASE("a workflow can run again after it finished but not twice at once", "[workflow]") {
    QueuedHarness h;
    h.start({start_step("W3SVC")});
    CHECK_THROWS_AS(h.start({start_step("W3SVC")}), std::logic_error);
    h.pool.run_all();
    REQUIRE(h.outcomes.size() == 1);
    h.start({start_step("W3SVC")});
    h.pool.run_all();
    CHECK(h.outcomes.size() == 2);
}

TEST_CASE("a dry run reports every step as would-run and calls nothing", "[workflow]") {
    InlineHarness h;
    h.start(seed_steps(), {site("intranet")}, /*dry_run=*/true);

    CHECK(h.outcome().succeeded);
    CHECK(h.pool.submitted() == 0);
    CHECK(h.processes.calls().empty());
    CHECK(h.services.calls().empty());
    CHECK(h.prober.calls().empty());
    CHECK(h.clock.pending_timers() == 0);
    const auto steps = h.sink.all(EventId::step_succeeded);
    REQUIRE(steps.size() == 5);
    for (const auto& event : steps) {
        CHECK(event.details["dry_run"] == true);
        CHECK_THAT(event.message, Catch::StartsWith("Dry run: repair step ") && Catch::EndsWith(" would run; certheal changed nothing."));
        CHECK(event.incident == "inc-1");
    }
    CHECK_THAT(steps[1].message, Catch::Contains("(stop_service)"));
    CHECK_THAT(steps[1].details["description"].get<std::string>(), Catch::Contains("stop_service IISADMIN with dependents"));
    CHECK(h.sink.count(EventId::step_failed) == 0);
}

namespace {

Step trust_ca_into_root() { return Step{TrustCaStep{shared_pki().ca_cert, CertificateStoreTarget{"Root"}}, 1min}; }

}  // namespace

TEST_CASE("a trust_ca step adds the CA, says it changed something and which certificate, then changes nothing",
          "[workflow][trust]") {
    InlineHarness h;
    h.start({trust_ca_into_root(), start_step("W3SVC")});
    REQUIRE(h.outcome().succeeded);
    CHECK(h.stores.contents("Root") == std::vector<DerCertificate>{der_of(shared_pki().ca_cert)});
    const auto first = h.sink.all(EventId::step_succeeded).front();
    CHECK(first.details["kind"] == "trust_ca");
    CHECK(first.details["changed"] == true);
    CHECK(first.details["target"] == "LocalMachine\\Root");
    REQUIRE(first.details["added"].size() == 1);
    CHECK(first.details["added"][0]["subject"] == "CN=certheal test CA,O=certheal tests");
    CHECK(first.details["added"][0]["sha1"].get<std::string>().size() == 40);
    CHECK(first.details["added"][0]["sha256"].get<std::string>().size() == 64);
    CHECK_THAT(first.details["outcome"].get<std::string>(), Catch::Contains("added CN=certheal test CA,O=certheal tests (SHA-1 "));

    InlineHarness again;
    again.stores.put("Root", der_of(shared_pki().ca_cert));
    again.start({trust_ca_into_root()});
    REQUIRE(again.outcome().succeeded);
    const auto second = again.sink.all(EventId::step_succeeded).front();
    CHECK(second.details["changed"] == false);
    CHECK(second.details["added"].empty());
    CHECK(second.details["already_present"].size() == 1);
    CHECK_THAT(second.details["outcome"].get<std::string>(), Catch::Contains("was already in LocalMachine\\Root; nothing changed"));
    CHECK(again.stores.contents("Root").size() == 1);
}

TEST_CASE("a trust_ca step into a bundle with two names says that the other name keeps the old contents",
          "[workflow][trust]") {
    certheal::test::TempDir dir;
    std::ifstream other_ca(shared_pki().other_ca_cert, std::ios::binary);
    const auto bundle = dir.write("client-ca.pem", std::string(std::istreambuf_iterator<char>(other_ca), {}));
    InlineHarness h;
    h.files.set_link_count(2);
    h.start({Step{TrustCaStep{shared_pki().ca_cert, PemBundleTarget{bundle}}, 1min}});
    REQUIRE(h.outcome().succeeded);
    const auto event = h.sink.all(EventId::step_succeeded).front();
    CHECK(event.details["changed"] == true);
    CHECK(event.details["hard_links"] == 2);
    CHECK_THAT(event.details["outcome"].get<std::string>(), Catch::Contains("the bundle has 2 names (hard links)") &&
                                  Catch::Contains("the other 1 name keeps the old contents"));

    InlineHarness single;
    single.start({Step{TrustCaStep{shared_pki().ca_cert, PemBundleTarget{dir.write("single.pem", "")}}, 1min}});
    REQUIRE(single.outcome().succeeded);
    const auto plain = single.sink.all(EventId::step_succeeded).front();
    CHECK_FALSE(plain.details.contains("hard_links"));
    CHECK_THAT(plain.details["outcome"].get<std::string>(), !Catch::Contains("hard links"));
}

TEST_CASE("a trust_ca step that cannot open its store fails the repair with the store's sentence",
          "[workflow][trust]") {
    InlineHarness h;
    h.stores.fail_next("list", "Root", Failure{std::make_error_code(std::errc::permission_denied),
                                               "certheal could not open the LocalMachine\\Root certificate store: "
                                               "Access is denied. (Win32 error 5)"});
    h.start({trust_ca_into_root(), start_step("W3SVC")});
    CHECK_FALSE(h.outcome().succeeded);
    CHECK(h.outcome().failed_step == 0u);
    const auto failed = h.sink.last(EventId::step_failed);
    REQUIRE(failed);
    CHECK(failed->message == "Repair step 1 of 2 (trust_ca) failed. The repair stopped here; see the error.");
    CHECK_THAT(failed->details.at("error").get<std::string>(), Catch::Contains("could not make LocalMachine\\Root trust the CA"));
    CHECK_THAT(failed->details.at("error").get<std::string>(), Catch::Contains("Access is denied"));
    CHECK(h.services.calls().empty());
}

TEST_CASE("a dry run of trust_ca and fix_root_store reads the store, says what would change and changes nothing",
          "[workflow][trust]") {
    InlineHarness h;
    h.stores.put("Root", der_of(shared_pki().intermediate_ca_cert));
    h.start({trust_ca_into_root(), Step{FixRootStoreStep{"CA"}, 1min}, start_step("W3SVC")}, {site("intranet")},
            /*dry_run=*/true);
    REQUIRE(h.outcome().succeeded);
    CHECK(h.stores.calls() == std::vector<std::string>{"list Root", "list Root"});
    CHECK(h.stores.contents("Root") == std::vector<DerCertificate>{der_of(shared_pki().intermediate_ca_cert)});
    CHECK(h.services.calls().empty());
    const auto steps = h.sink.all(EventId::step_succeeded);
    REQUIRE(steps.size() == 3);
    CHECK_THAT(steps[0].message, Catch::StartsWith("Dry run: repair step 1 of 3 (trust_ca) would run"));
    CHECK_THAT(steps[0].details["description"].get<std::string>(), Catch::StartsWith("trust_ca "));
    CHECK_THAT(steps[0].details["would"].get<std::string>(), Catch::Contains("would add CN=certheal test CA,O=certheal tests"));
    CHECK(steps[0].details["would_add"].size() == 1);
    CHECK(steps[0].details["changed"] == false);
    CHECK_THAT(steps[1].details["would"].get<std::string>(), Catch::Contains("would move CN=certheal test intermediate CA"));
    CHECK(steps[1].details["would_move"].size() == 1);
    for (const auto& event : steps) CHECK(event.details["dry_run"] == true);
}

TEST_CASE("a fix_root_store step moves the misplaced certificate and names it", "[workflow][trust]") {
    InlineHarness h;
    h.stores.put("Root", der_of(shared_pki().ca_cert));
    h.stores.put("Root", der_of(shared_pki().intermediate_ca_cert));
    h.start({Step{FixRootStoreStep{"CA"}, 1min}});
    REQUIRE(h.outcome().succeeded);
    const auto event = h.sink.all(EventId::step_succeeded).front();
    CHECK(event.details["changed"] == true);
    REQUIRE(event.details["moved"].size() == 1);
    CHECK(event.details["moved"][0]["subject"] == "CN=certheal test intermediate CA,O=certheal tests");
    CHECK(h.stores.contents("CA") == std::vector<DerCertificate>{der_of(shared_pki().intermediate_ca_cert)});
    CHECK(h.stores.contents("Root") == std::vector<DerCertificate>{der_of(shared_pki().ca_cert)});
}

TEST_CASE("a wall clock step during a repair changes neither a step's duration nor the restore budget",
          "[workflow][clock]") {
    QueuedHarness h;
    h.start({run_step(kIisca), stop_step("IISADMIN", true), start_step("W3SVC"), restore_step()});
    h.clock.advance(2s);
    h.clock.set_now(h.clock.wall_now() + 10h);  // an administrator or NTP steps the clock forward
    h.pool.run_next();                      // iisca returns
    const auto run = h.sink.all(EventId::step_succeeded).front();
    CHECK(run.details["duration_ms"] == 2000);

    h.pool.run_next();  // stop IISADMIN /y
    h.pool.run_next();  // start W3SVC
    h.clock.set_now(h.clock.wall_now() - 24h);  // and back, past the step's start
    h.pool.run_all();   // restore FTPSVC: its 2 min budget is untouched by either step
    REQUIRE(h.outcome().succeeded);
    const auto restore = h.sink.all(EventId::step_succeeded).back();
    CHECK(restore.details["kind"] == "restore_dependents");
    CHECK(restore.details["duration_ms"] == 0);
    CHECK(h.services.is_running("FTPSVC"));
}

TEST_CASE("output tails are cut to size and made valid UTF-8 for events", "[workflow]") {
    CHECK(output_tail_for_event("short") == "short");

    const std::string long_text = std::string(3000, 'a') + "END";
    const auto tail = output_tail_for_event(long_text, 100);
    CHECK(tail.size() == 103);
    CHECK_THAT(tail, Catch::StartsWith("...") && Catch::EndsWith("END"));

    // "é" is two bytes: a cut through it drops the orphaned continuation byte.
    CHECK(output_tail_for_event("x\xC3\xA9yz", 3) == "...yz");
    // Bytes from a legacy code page are not UTF-8 and must not reach a JSON encoder as they are.
    CHECK(output_tail_for_event("Zugriff verweigert: \xE4\xFC") == "Zugriff verweigert: ??");
    CHECK(output_tail_for_event("caf\xC3\xA9 \xE2\x9C\x93") == "caf\xC3\xA9 \xE2\x9C\x93");
    CHECK_NOTHROW(nlohmann::json(output_tail_for_event("\xFF\xFE\xC0\xAF")).dump());
}

// --- the ladder's Windows steps ------------------------------------------------------------

TEST_CASE("trust_ca auto's event names the store it chose for each site and why", "[workflow][trust][auto]") {
    InlineHarness h;
    h.binding_trust.set(BindingTrust{2, "ClientAuthIssuer", "ClientAuthIssuer holds certificates and the binding names "
                                                            "no Ctl Store", false, "0.0.0.0:443"});
    h.start({Step{TrustCaStep{shared_pki().ca_cert, AutoStoreTarget{}}, 1min}});
    REQUIRE(h.outcome().succeeded);
    const auto event = *h.sink.last(EventId::step_succeeded);
    CHECK(event.details.at("target") == "auto");
    CHECK(event.details.at("changed") == true);
    const auto& choice = event.details.at("choices").at(0);
    CHECK(choice.at("site") == "intranet");
    CHECK(choice.at("trust_mode") == 2);
    CHECK(choice.at("placements").at(0).at("store") == "ClientAuthIssuer");
    CHECK(event.details.at("stores").at(0).at("target") == "LocalMachine\\ClientAuthIssuer");
    CHECK_THAT(event.details.at("outcome").get<std::string>(),
               Catch::Contains("added CN=certheal test CA,O=certheal tests") &&
                   Catch::Contains("to LocalMachine\\ClientAuthIssuer; for site intranet, certheal chose "
                                   "LocalMachine\\ClientAuthIssuer for CN=certheal test CA,O=certheal "
                                   "tests because ClientAuthTrustMode is 2") &&
                   Catch::Contains("because ClientAuthTrustMode is 2 (exclusive CA trust)"));
    CHECK(h.stores.contents("ClientAuthIssuer").size() == 1);
}

TEST_CASE("trust_ca auto without the host trust diagnosis fails the step with a sentence", "[workflow][trust][auto]") {
    FakeServiceManager services;
    FakeProcessRunner processes;
    InlineWorkerPool pool;
    FakeProber prober;
    FakeClock clock;
    RecordingSink sink;
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    Workflow workflow(WorkflowPorts{services, processes, pool, prober, clock, sink, stores, files});
    std::optional<Workflow::Outcome> outcome;
    workflow.start({Step{TrustCaStep{shared_pki().ca_cert, AutoStoreTarget{}}, 1min}}, "inc-1", {site("intranet")}, false,
                   [&](Workflow::Outcome finished) { outcome = std::move(finished); });
    REQUIRE(outcome);
    CHECK_FALSE(outcome->succeeded);
    CHECK_THAT(sink.last(EventId::step_failed)->details.at("error").get<std::string>(),
               Catch::Contains("certheal could not make the store Schannel trusts trust the CA") &&
                   Catch::Contains("the host trust diagnosis is not available here"));
    CHECK(stores.calls().empty());
}

TEST_CASE("set_schannel's event keeps the values it found, says how to undo them and that a restart applies them",
          "[workflow][schannel]") {
    InlineHarness h;
    h.schannel.put_number("ClientAuthTrustMode", 0);
    h.start({Step{SetSchannelStep{2, false}, 1min}});
    REQUIRE(h.outcome().succeeded);
    const auto event = *h.sink.last(EventId::step_succeeded);
    CHECK(event.details.at("previous") == nlohmann::json{{"ClientAuthTrustMode", 0}, {"SendTrustedIssuerList", nullptr}});
    CHECK(event.details.at("set") == nlohmann::json{{"ClientAuthTrustMode", 2}, {"SendTrustedIssuerList", 0}});
    CHECK(event.details.at("changed") == true);
    CHECK(event.details.at("undo").size() == 2);
    CHECK_THAT(event.details.at("outcome").get<std::string>(), Catch::Contains("set ClientAuthTrustMode from 0 to 2 and SendTrustedIssuerList from absent "
                                              "to 0") &&
                                  Catch::Contains("It was 0: to undo") &&
                                  Catch::Contains("Windows applies Schannel settings only after a restart of the web "
                                                  "service"));
    CHECK(h.schannel.number("ClientAuthTrustMode") == 2u);
}

TEST_CASE("a dry run of set_schannel and add_intermediates reads what is there and writes nothing",
          "[workflow][schannel][dry_run]") {
    const auto chain = shared_pki().write("chain.pem", [&] {
        std::ifstream a(shared_pki().intermediate_ca_cert), b(shared_pki().ca_cert);
        std::stringstream text;
        text << a.rdbuf() << b.rdbuf();
        return text.str();
    }());
    InlineHarness h;
    h.schannel.put_number("ClientAuthTrustMode", 0);
    h.start({Step{SetSchannelStep{2, std::nullopt}, 1min}, Step{AddIntermediatesStep{chain}, 1min}}, {site("intranet")},
            /*dry_run=*/true);
    REQUIRE(h.outcome().succeeded);
    CHECK(h.schannel.calls() == std::vector<std::string>{"read ClientAuthTrustMode"});
    CHECK(h.stores.contents("CA").empty());
    const auto events = h.sink.all(EventId::step_succeeded);
    REQUIRE(events.size() == 2);
    CHECK_THAT(events[0].details.at("description").get<std::string>(), Catch::StartsWith("set_schannel ClientAuthTrustMode=2"));
    CHECK_THAT(events[0].details.at("would").get<std::string>(), Catch::StartsWith("would set ClientAuthTrustMode from 0 to 2"));
    CHECK(events[0].details.at("would_set") == nlohmann::json{{"ClientAuthTrustMode", 2}});
    CHECK_THAT(events[1].details.at("would").get<std::string>(), Catch::Contains("would add CN=certheal test intermediate CA"));
    CHECK(events[1].details.at("would_add").size() == 1);
    CHECK(events[1].details.at("not_intermediates").size() == 1);
}
