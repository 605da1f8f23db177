#include <catch2/catch.hpp>

#include "core/describe/policy_sentences.hpp"

using namespace certheal;
using namespace std::chrono_literals;

namespace {
// 2026-01-02T03:04:05.000Z
TimePoint known_time() { return TimePoint{std::chrono::seconds{1767323045}}; }
}  // namespace

TEST_CASE("a starting repair says which attempt of the budget it is", "[describe]") {
    CHECK(attempt_starting_message(1, 3, 1h, "inc-1") ==
          "certheal is starting the 1st of at most 3 repairs allowed within 1h for incident inc-1.");
    CHECK(attempt_starting_message(2, 12, 30min, "inc-2") ==
          "certheal is starting the 2nd of at most 12 repairs allowed within 30m for incident inc-2.");
    CHECK(attempt_starting_message(13, 20, 2h, "inc-3").find("the 13th of") != std::string::npos);
    CHECK(attempt_starting_message(23, 30, 2h, "inc-3").find("the 23rd of") != std::string::npos);
}

TEST_CASE("an open circuit tells an operator how to repair anyway, and the service when it closes", "[describe]") {
    CHECK(circuit_open_message(true) ==
          "The repair circuit breaker is open: the last repair the budget allowed failed. Find out why, then run "
          "`certheal resume`, or `certheal repair --force` to repair anyway.");
    CHECK(circuit_open_message(false) ==
          "The repair circuit breaker is open, so certheal does not repair until it closes by itself (retry_after) or "
          "you run `certheal resume` after checking the host.");
    CHECK(circuit_opened_message("IIS", known_time()) ==
          "Repairs stopped: the last repair the budget allows failed. Check IIS and its client-certificate trust, then "
          "run `certheal resume`; otherwise repairs resume at 2026-01-02T03:04:05.000Z.");
}

TEST_CASE("a pause names its scope, who paused, and until when the repair is held", "[describe]") {
    CHECK(paused_message({"", known_time(), "alice", "patching"}, "inc-1", false) ==
          "repairs on this host are paused until 2026-01-02T03:04:05.000Z (by alice: patching), so the repair of incident "
          "inc-1 is held until then.");
    CHECK(paused_message({"shop", std::nullopt, "bob", ""}, "inc-2", true) ==
          "repairs of site shop are paused until certheal unpause (by bob), so the repair of incident inc-2 is held. "
          "Run certheal unpause first, or certheal repair --force to repair anyway.");
}

TEST_CASE("a repair's start and success count its stages or steps", "[describe]") {
    CHECK(repair_started_message(2, 3, true, 1, 3) ==
          "certheal started a repair of 2 sites with 3 stages, least disruptive first (attempt 1 of 3 in the window).");
    CHECK(repair_started_message(1, 1, false, 2, 3) ==
          "certheal started a repair of 1 site with 1 step (attempt 2 of 3 in the window).");
    CHECK(dry_run_repair_message(1, true) ==
          "Dry run is on: certheal logs the repair's 1 stage as they would run and changes nothing. Turn "
          "remediation.dry_run off to repair.");
    CHECK(ladder_succeeded_message(1, 3) ==
          "The repair succeeded: the sites were verified healthy after stage 1 of 3; the more disruptive stages after "
          "it did not run.");
    CHECK(ladder_succeeded_message(3, 3) == "The repair succeeded: the sites were verified healthy after stage 3 of 3.");
    CHECK(steps_succeeded_message(false) ==
          "Every repair step ran. No verify step is configured, so certheal probes the sites as usual; site_recovered "
          "says when they are healthy.");
}

TEST_CASE("a failed repair says where it stopped and whether certheal tries again", "[describe]") {
    CHECK(repair_failed_message({false, false, std::size_t{1}, false}) ==
          "The repair failed. Step 2 failed; check its error and the site by hand. certheal tries again after the "
          "cooldown.");
    CHECK(repair_failed_message({false, true, std::nullopt, true}) ==
          "The repair failed. No stage healed the sites; check its error and the site by hand. It was the last attempt "
          "the budget allows: certheal stops repairing.");
    CHECK(repair_failed_message({false, false, std::nullopt, false}).find("The sites are not healthy;") !=
          std::string::npos);
    CHECK(repair_failed_message({true, false, std::nullopt, true}) ==
          "The repair was abandoned because certheal is stopping; check the services and sites by hand.");
}

TEST_CASE("an expiring certificate says which one and where to renew it", "[describe]") {
    CHECK(client_certificate_expiring_message(false, true) ==
          "The client certificate certheal presents expires within 30 days (not_after). Renew it in the certificate "
          "store; certheal takes the renewed one by itself.");
    CHECK(client_certificate_expiring_message(true, false) ==
          "The client certificate certheal presents has expired (not_after). Renew it and update the configuration.");
    CHECK(server_certificate_expiring_message(true, "IIS") ==
          "The site's server certificate has expired (not_after). Renew it in IIS (the site's HTTPS binding).");
    CHECK(client_certificate_changed_message(1, false) ==
          "certheal now presents another client certificate from the store to 1 site, an older one: the newer one it "
          "used before is gone or no longer valid. Check the store.");
    CHECK(root_store_misplaced_message() ==
          "A certificate that is not self-signed sits in LocalMachine\\Root, so IIS rejects client certificates (KB "
          "2802568). Move it to the CA store (step fix_root_store).");
}

TEST_CASE("the service's start and reload count the sites and say what of remediation is off", "[describe]") {
    CHECK(service_started_message(1, true, false) ==
          "certheal started and monitors 1 site. Dry run is on: repairs are only logged, nothing is changed. "
          "Remediation is disabled: certheal only reports.");
    CHECK(service_started_message(3, false, true) == "certheal started and monitors 3 sites.");
    CHECK(config_reloaded_message(2, true) ==
          "certheal reloaded its configuration and now monitors 2 sites. A changed service.state_dir or status_listen "
          "takes effect only after a restart (needs_restart).");
}

TEST_CASE("a failed probe says how many more confirm a symptom, or that it is only reported", "[describe]") {
    CHECK(symptom_probe_failed_message(1, 3) ==
          "A probe failed with a repair symptom; 1 of 3 failed probes in a row confirm it. See the evidence for what the "
          "site answered.");
    CHECK(other_probe_failed_message() ==
          "A probe failed with a class that is not a repair symptom; certheal only reports it, again when the class "
          "changes. Check the site.");
    CHECK(host_trust_changed_message(0) ==
          "The client-certificate trust settings of this host changed (see changed). certheal finds no cause of a "
          "rejection in them. Check that the change was meant.");
    CHECK(host_trust_changed_message(2) ==
          "The client-certificate trust settings of this host changed (see changed). certheal finds a cause of "
          "rejection for 2 sites; certheal diagnose says more. Check that the change was meant.");
}
