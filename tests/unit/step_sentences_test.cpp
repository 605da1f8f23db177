#include <catch2/catch.hpp>

#include "core/describe/step_sentences.hpp"

using namespace certheal;
using namespace std::chrono_literals;

namespace {

Step run_step() { return Step{RunStep{"/opt/iis/iisca", {"/sync"}}, 1min}; }
Step stop_step() { return Step{StopServiceStep{"IISADMIN", true}, 2min}; }

StepPlace repair_place(std::size_t number, std::size_t count, std::string kind) {
    return StepPlace{number, count, std::move(kind), std::nullopt, false};
}

StepPlace stage_place(std::size_t number, std::size_t count, std::string kind, bool stage_verify = false) {
    return StepPlace{number, count, std::move(kind), StepPlace::Stage{2, 3}, stage_verify};
}

}  // namespace

TEST_CASE("a step of the repair's one list is labelled as a repair step", "[describe]") {
    CHECK(step_label(repair_place(2, 4, "run")) == "Repair step 2 of 4 (run)");
    CHECK(step_succeeded_message(repair_place(2, 4, "run")) == "Repair step 2 of 4 (run) succeeded.");
}

TEST_CASE("a step of a stage names the stage, and the stage's verify is called so", "[describe]") {
    CHECK(step_label(stage_place(1, 3, "trust_ca")) == "Step 1 of 3 of stage 2 of 3 (trust_ca)");
    CHECK(step_label(stage_place(3, 3, "verify", true)) == "Step 3 of 3 of stage 2 of 3 (the stage's verify)");
}

TEST_CASE("a dry-run step says it would run, lowercased inside the sentence", "[describe]") {
    CHECK(dry_run_step_message(repair_place(1, 2, "run")) ==
          "Dry run: repair step 1 of 2 (run) would run; certheal changed nothing.");
    CHECK(dry_run_step_message(stage_place(1, 2, "run")) ==
          "Dry run: step 1 of 2 of stage 2 of 3 (run) would run; certheal changed nothing.");
}

TEST_CASE("a failed step's message says the exit code and where the repair stopped", "[describe]") {
    StepFailureFacts facts{repair_place(1, 5, "run"), 3, false, false, true};
    CHECK(step_failed_message(facts) ==
          "Repair step 1 of 5 (run) failed: the program exited with code 3. The repair stopped here; see the error "
          "and the output.");
    facts.exit_code = 0;
    facts.with_output = false;
    CHECK(step_failed_message(facts) == "Repair step 1 of 5 (run) failed. The repair stopped here; see the error.");
    facts.dry_run = true;
    CHECK(step_failed_message(facts) == "Dry run: Repair step 1 of 5 (run) failed. The real repair would stop here.");
    facts.stopping = true;
    CHECK(step_failed_message(facts) == "Dry run: Repair step 1 of 5 (run) failed. certheal is stopping.");
}

TEST_CASE("a failed step of a stage says the stage stopped", "[describe]") {
    StepFailureFacts facts{stage_place(1, 2, "run"), std::nullopt, false, false, false};
    CHECK(step_failed_message(facts) == "Step 1 of 2 of stage 2 of 3 (run) failed. The stage stopped here; see the error.");
    facts.dry_run = true;
    CHECK(step_failed_message(facts) ==
          "Dry run: Step 1 of 2 of stage 2 of 3 (run) failed. The real stage would stop here.");
}

TEST_CASE("the workflow's error names the failed step 1-based with its description", "[describe]") {
    CHECK(step_failed_error(1, stop_step(), "the service manager refused.") ==
          "Step 2 (stop_service IISADMIN with dependents) failed: the service manager refused.");
}

TEST_CASE("a cancelled workflow says where it was", "[describe]") {
    using When = WorkflowCancelledFacts::When;
    CHECK(workflow_cancelled_error({"inc-1", When::during_step, 0, run_step()}) ==
          "certheal cancelled the repair for incident inc-1 because it is stopping during step 1 (run "
          "/opt/iis/iisca /sync); the remaining steps were not run, so check the services on this host.");
    CHECK(workflow_cancelled_error({"inc-1", When::before_step, 1, stop_step()}) ==
          "certheal cancelled the repair for incident inc-1 because it is stopping before step 2 (stop_service "
          "IISADMIN with dependents); the remaining steps were not run, so check the services on this host.");
    CHECK(workflow_cancelled_error({"inc-1", When::after_last_step, 2, std::nullopt}) ==
          "certheal cancelled the repair for incident inc-1 because it is stopping; the remaining steps were not "
          "run, so check the services on this host.");
}

TEST_CASE("a failed call is introduced by what the step was doing", "[describe]") {
    CHECK(step_failure_clause(run_step()) == "certheal could not start /opt/iis/iisca");
    CHECK(step_failure_clause(stop_step()) == "certheal could not stop the service IISADMIN");
    CHECK(step_failure_clause(Step{StartServiceStep{"W3SVC"}, 1min}) == "certheal could not start the service W3SVC");
    CHECK(step_failure_clause(Step{TrustCaStep{"/ca.pem", CertificateStoreTarget{"Root"}}, 1min}) ==
          "certheal could not make LocalMachine\\Root trust the CA");
    CHECK(step_failure_clause(Step{TrustCaStep{"/ca.pem", PemBundleTarget{"/etc/ca.pem"}}, 1min}) ==
          "certheal could not make /etc/ca.pem trust the CA");
    CHECK(step_failure_clause(Step{TrustCaStep{"/ca.pem", AutoStoreTarget{}}, 1min}) ==
          "certheal could not make the store Schannel trusts trust the CA");
    CHECK(step_failure_clause(Step{VerifyStep{}, 1min}).empty());
}

TEST_CASE("a program's sentence says how it ended and what it left", "[describe]") {
    ProcessOutcome outcome;
    outcome.exit_code = 0;
    CHECK(run_summary({"iisca", outcome, 1min}) == "iisca exited with code 0");
    outcome.left_running = {"1240 sleep"};
    CHECK(run_summary({"iisca", outcome, 1min}) == "iisca exited with code 0; it left 1 process running (1240 sleep)");
    outcome.exit_code = 2;
    outcome.left_running.clear();
    CHECK(run_summary({"iisca", outcome, 1min}) == "iisca exited with code 2.");
}

TEST_CASE("a program killed at its timeout names the processes and the survivors", "[describe]") {
    ProcessOutcome outcome;
    outcome.timed_out = true;
    outcome.killed = {"1234 sh", "1240 sleep"};
    outcome.left_running = {"1250 sleep"};
    CHECK(run_summary({"sh", outcome, 90s}) ==
          "sh did not finish within its timeout of 1m30s, so certheal killed its process tree (2 processes: 1234 sh, "
          "1240 sleep); check what it waits for. certheal could not end 1 process (1250 sleep); end it by hand.");
    outcome.timed_out = false;
    outcome.cancelled = true;
    outcome.killed.clear();
    outcome.left_running.push_back("1260 sleep");
    CHECK(run_summary({"sh", outcome, 90s}) ==
          "sh was stopped because certheal is stopping; certheal killed its process tree. certheal could not end 2 "
          "processes (1250 sleep, 1260 sleep); end them by hand.");
}

TEST_CASE("service and restore sentences list the services", "[describe]") {
    CHECK(service_stopped_summary("IISADMIN", {}) == "stopped IISADMIN");
    CHECK(service_stopped_summary("IISADMIN", {"W3SVC", "FTPSVC"}) ==
          "stopped IISADMIN after its running dependents W3SVC and FTPSVC");
    CHECK(restore_not_attempted("W3SVC", 2min) == "W3SVC (not attempted: the step's timeout of 2m ran out)");
    CHECK(restore_failed_summary({"W3SVC (refused)"}, {}) ==
          "certheal could not start again the dependent services W3SVC (refused).");
    CHECK(restore_failed_summary({"W3SVC (refused)"}, {"FTPSVC"}) ==
          "certheal could not start again the dependent services W3SVC (refused); it did start FTPSVC.");
    CHECK(restored_summary({"W3SVC", "FTPSVC"}) == "started again W3SVC and FTPSVC");
}

TEST_CASE("trust_ca says what it added, or that it was already there", "[describe]") {
    TrustCaFacts facts{"/etc/ca.pem", "CN=Old (SHA-1 aa)", 1, "CN=New (SHA-1 bb)", false, true, 1};
    CHECK(trust_ca_summary(facts) == "added CN=New (SHA-1 bb) to /etc/ca.pem");
    CHECK(trust_ca_would(facts) == "would add CN=New (SHA-1 bb) to /etc/ca.pem");
    facts.changed = false;
    CHECK(trust_ca_summary(facts) == "CN=Old (SHA-1 aa) was already in /etc/ca.pem; nothing changed");
    facts.nothing_missing = true;
    CHECK(trust_ca_would(facts) == "would change nothing: CN=Old (SHA-1 aa) already in /etc/ca.pem");
}

TEST_CASE("trust_ca into a bundle with other names says which name got the new file", "[describe]") {
    TrustCaFacts facts{"/etc/ca.pem", "", 0, "CN=New (SHA-1 bb)", false, true, 3};
    CHECK(trust_ca_summary(facts) ==
          "added CN=New (SHA-1 bb) to /etc/ca.pem; the bundle has 3 names (hard links), and certheal put a new file "
          "in place of /etc/ca.pem only, so the other 2 names keep the old contents: point the web server at "
          "/etc/ca.pem or link the other names to it again");
}

TEST_CASE("fix_root_store says what it moved", "[describe]") {
    RootStoreFacts facts{"CA", "CN=Sub (SHA-1 cc)", false, true};
    CHECK(fix_root_store_summary(facts) == "moved CN=Sub (SHA-1 cc), which are not self-signed, from LocalMachine\\Root to CA");
    CHECK(fix_root_store_would(facts) == "would move CN=Sub (SHA-1 cc) from LocalMachine\\Root to CA");
    facts = RootStoreFacts{"CA", "", true, false};
    CHECK(fix_root_store_summary(facts) == "LocalMachine\\Root holds only self-signed certificates; nothing changed");
    CHECK(fix_root_store_would(facts) ==
          "would change nothing: LocalMachine\\Root holds only self-signed certificates");
}

TEST_CASE("verify sentences count the rounds and name the unhealthy sites", "[describe]") {
    CHECK(unhealthy_site("www", "handshake_failed", 403) == "www (handshake_failed, HTTP 403)");
    CHECK(unhealthy_site("api", "unreachable", std::nullopt) == "api (unreachable)");
    VerifyFacts facts{2, 5, {}, false, 5min};
    CHECK(verify_healthy_summary(facts) == "every site answered healthy in round 2 of 5");
    facts.unhealthy = {"www (unreachable)"};
    CHECK(verify_unhealthy_summary(facts) ==
          "after 2 rounds of probes, www (unreachable) was still not healthy; check the site and the "
          "client-certificate trust by hand.");
    facts.unhealthy.push_back("api (unreachable)");
    facts.stage_verify = true;
    CHECK(verify_unhealthy_summary(facts) ==
          "after 2 rounds of probes, www (unreachable) and api (unreachable) were still not healthy after this stage.");
    CHECK(verify_timed_out_summary(facts) ==
          "the sites were not all healthy within the step's timeout of 5m (2 rounds of probes started); check the "
          "site and the client-certificate trust by hand.");
}

TEST_CASE("a cancelled ladder names the stage it did not start", "[describe]") {
    CHECK(stage_title(2, 3, "restart IIS") == "stage 2 of 3 (restart IIS)");
    CHECK(ladder_cancelled_error("inc-2", stage_title(2, 3, "restart IIS")) ==
          "certheal cancelled the repair for incident inc-2 because it is stopping, before stage 2 of 3 (restart "
          "IIS); check the services on this host.");
    CHECK(ladder_cancelled_error("inc-2", std::nullopt) ==
          "certheal cancelled the repair for incident inc-2 because it is stopping; check the services on this host.");
}

TEST_CASE("a stage's events say where it stands in the ladder and what comes next", "[describe]") {
    CHECK(stage_started_message({1, 3}, false, 2) ==
          "Stage 1 of 3 started: 2 steps, then a probe of the sites; the next stage follows if they are not healthy.");
    CHECK(stage_started_message({3, 3}, true, 1) ==
          "Dry run: Stage 3 of 3 would run: 1 step, then a probe of the sites; it is the last stage.");
    CHECK(stage_skipped_message({2, 3}, false) ==
          "Stage 2 of 3 was skipped: its `when` does not match the incident (see reason).");
    CHECK(stage_succeeded_message({1, 3}) ==
          "The sites were healthy after stage 1 of 3; the more disruptive stages after it did not run.");
    CHECK(stage_succeeded_message({3, 3}) == "The sites were healthy after stage 3 of 3.");
    CHECK(stage_failed_message({{1, 3}, false, 2}) == "Stage 1 of 3 failed at step 2. certheal goes on with the next stage.");
    CHECK(stage_failed_message({{3, 3}, true, 4}) ==
          "The sites were still not healthy after stage 3 of 3. It was the last stage; see the error.");
}
