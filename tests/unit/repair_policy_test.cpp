#include <catch2/catch.hpp>

#include <set>

#include <nlohmann/json.hpp>

#include "core/policy/repair_policy.hpp"
#include "core/base/time_format.hpp"
#include "support/fakes.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;
using Verdict = RepairPolicy::Decision::Verdict;

namespace {

RemediationConfig seed_settings() {
    RemediationConfig config;
    config.cooldown = 10min;
    config.max_attempts = 3;
    config.attempt_window = 1h;
    config.circuit_reset_after = 6h;
    return config;
}

struct Fixture {
    RemediationConfig config = seed_settings();
    FakeClock clock;
    MemoryStateStore store;
    RecordingSink sink;
    RepairPolicy policy{config, clock, store, sink};

    // One whole repair: asked for, allowed, ran for a minute, ended.
    void repair(const std::string& incident, bool succeeded) {
        const auto decision = policy.request(incident);
        REQUIRE(decision.verdict == Verdict::allowed);
        clock.advance(1min);
        policy.finished(incident, succeeded);
    }

    // max_attempts failed repairs, each started as soon as the cooldown allows.
    void fail_until_the_circuit_opens() {
        for (int i = 1; i <= config.max_attempts; ++i) {
            if (i > 1) clock.advance(config.cooldown);
            repair("inc-" + std::to_string(i), false);
        }
    }
};

}  // namespace

TEST_CASE("only one repair runs at a time on the host", "[policy]") {
    Fixture f;
    CHECK(f.policy.request("inc-1").verdict == Verdict::allowed);
    CHECK(f.policy.busy());

    const auto second = f.policy.request("inc-2");
    CHECK(second.verdict == Verdict::busy);
    CHECK_THAT(second.reason_sentence, Catch::Contains("Another repair is still running"));
    CHECK(second.details.at("running_incident") == "inc-1");
    CHECK(f.policy.attempts_in_window() == 1);

    f.policy.finished("inc-1", true);
    CHECK_FALSE(f.policy.busy());
}

TEST_CASE("a cooldown follows every repair and ends on time", "[policy]") {
    Fixture f;
    f.repair("inc-1", true);
    const auto ended = f.clock.wall_now();

    f.clock.advance(9min + 59s);
    const auto early = f.policy.request("inc-2");
    CHECK(early.verdict == Verdict::cooldown);
    REQUIRE(early.retry_after);
    CHECK(*early.retry_after == ended + 10min);
    CHECK(f.policy.next_allowed() == ended + 10min);
    CHECK_FALSE(f.policy.busy());

    f.clock.advance(1s);
    CHECK(f.policy.request("inc-2").verdict == Verdict::allowed);
}

TEST_CASE("the repair budget slides with the attempt window", "[policy]") {
    Fixture f;
    const auto start = f.clock.wall_now();
    f.repair("inc-1", true);  // attempt at +0
    f.clock.advance(19min);
    f.repair("inc-2", true);  // attempt at +20m
    f.clock.advance(19min);
    f.repair("inc-3", true);  // attempt at +40m
    CHECK(f.policy.attempts_in_window() == 3);

    f.clock.advance_to(start + 59min);  // the first attempt is still inside the window
    const auto spent = f.policy.request("inc-4");
    CHECK(spent.verdict == Verdict::budget_spent);
    REQUIRE(spent.retry_after);
    CHECK(*spent.retry_after == start + 1h);
    CHECK_FALSE(f.policy.circuit_open());  // the repairs worked: nothing to break

    f.clock.advance_to(start + 1h);
    CHECK(f.policy.attempts_in_window() == 2);
    CHECK(f.policy.request("inc-4").verdict == Verdict::allowed);
    CHECK(f.sink.count(EventId::circuit_opened) == 0);
}

TEST_CASE("the circuit opens after exactly max_attempts failed repairs in the window", "[policy]") {
    Fixture f;
    f.repair("inc-1", false);
    f.clock.advance(10min);
    f.repair("inc-2", false);
    f.clock.advance(10min);
    CHECK_FALSE(f.policy.circuit_open());
    CHECK(f.sink.count(EventId::circuit_opened) == 0);

    f.repair("inc-3", false);
    CHECK(f.policy.circuit_open());
    REQUIRE(f.sink.count(EventId::circuit_opened) == 1);
    const auto opened = *f.sink.last(EventId::circuit_opened);
    CHECK(opened.incident == "inc-3");
    CHECK(opened.details["attempts"] == 3);
    CHECK(opened.details["window"] == "1h");
    CHECK(opened.details["reset_after"] == "6h");
    CHECK(opened.incident == "inc-3");
    CHECK_THAT(opened.message, Catch::Contains("`certheal resume`") && Catch::Contains("Check the web server") &&
                                   Catch::Contains("repairs resume at " + opened.details["reset_at"].get<std::string>()));

    f.clock.advance(2h);  // the window's attempts are long gone, the circuit still holds
    const auto refused = f.policy.request("inc-4");
    CHECK(refused.verdict == Verdict::circuit_open);
    REQUIRE(refused.retry_after);
    CHECK(*refused.retry_after == *f.policy.circuit_opened_at() + 6h);
}

TEST_CASE("the circuit closes once circuit_reset_after has passed", "[policy]") {
    Fixture f;
    f.fail_until_the_circuit_opens();
    REQUIRE(f.policy.circuit_open());
    const auto opened_at = *f.policy.circuit_opened_at();

    f.clock.advance_to(opened_at + 6h - 1s);
    f.policy.tick();
    CHECK(f.policy.circuit_open());
    CHECK(f.sink.count(EventId::circuit_closed) == 0);

    f.clock.advance_to(opened_at + 6h);
    f.policy.tick();
    CHECK_FALSE(f.policy.circuit_open());
    REQUIRE(f.sink.count(EventId::circuit_closed) == 1);
    CHECK(f.sink.last(EventId::circuit_closed)->details["reason"] == "quiet_period");
    CHECK(f.policy.request("inc-4").verdict == Verdict::allowed);
}

TEST_CASE("request closes an expired circuit by itself", "[policy]") {
    Fixture f;
    f.fail_until_the_circuit_opens();
    f.clock.advance(6h);
    CHECK(f.policy.request("inc-4").verdict == Verdict::allowed);
    CHECK(f.sink.count(EventId::circuit_closed) == 1);
}

TEST_CASE("an operator reset closes the circuit and grants a fresh budget", "[policy]") {
    Fixture f;
    f.fail_until_the_circuit_opens();
    REQUIRE(f.policy.circuit_open());

    f.policy.reset_circuit("IIS checked by the on-call admin");
    CHECK_FALSE(f.policy.circuit_open());
    CHECK(f.policy.attempts_in_window() == 0);
    const auto closed = *f.sink.last(EventId::circuit_closed);
    CHECK(closed.details["reason"] == "operator");
    CHECK_THAT(closed.message, Catch::Contains("An operator reset the repair circuit breaker"));
    CHECK(closed.details["requested_by"] == "IIS checked by the on-call admin");

    // The cooldown after the last repair still holds.
    CHECK(f.policy.request("inc-4").verdict == Verdict::cooldown);
    f.clock.advance(10min);
    CHECK(f.policy.request("inc-4").verdict == Verdict::allowed);
}

TEST_CASE("a restart of certheal keeps an open circuit", "[policy]") {
    Fixture f;
    f.fail_until_the_circuit_opens();
    f.clock.advance(5min);
    REQUIRE(f.policy.circuit_open());

    RepairPolicy restarted(f.config, f.clock, f.store, f.sink);
    CHECK_FALSE(restarted.load().has_value());
    CHECK(restarted.circuit_open());
    CHECK(restarted.attempts_in_window() == 3);
    CHECK(restarted.request("inc-4").verdict == Verdict::circuit_open);
}

TEST_CASE("a restart of certheal never grants a fresh budget inside the window", "[policy]") {
    Fixture f;
    f.config.cooldown = 0min;
    RepairPolicy first(f.config, f.clock, f.store, f.sink);
    for (int i = 1; i <= 3; ++i) {
        REQUIRE(first.request("inc-" + std::to_string(i)).verdict == Verdict::allowed);
        f.clock.advance(1min);
        first.finished("inc-" + std::to_string(i), true);
    }

    RepairPolicy restarted(f.config, f.clock, f.store, f.sink);
    REQUIRE_FALSE(restarted.load().has_value());
    CHECK(restarted.attempts_in_window() == 3);
    CHECK(restarted.request("inc-4").verdict == Verdict::budget_spent);
}

TEST_CASE("a restart during a repair keeps the attempt and its cooldown", "[policy]") {
    Fixture f;
    REQUIRE(f.policy.request("inc-1").verdict == Verdict::allowed);
    const auto started = f.clock.wall_now();
    f.clock.advance(2min);  // certheal dies here, finished() never comes

    RepairPolicy restarted(f.config, f.clock, f.store, f.sink);
    REQUIRE_FALSE(restarted.load().has_value());
    CHECK_FALSE(restarted.busy());
    CHECK(restarted.attempts_in_window() == 1);
    const auto decision = restarted.request("inc-2");
    CHECK(decision.verdict == Verdict::cooldown);
    CHECK(decision.retry_after == started + 10min);
}

TEST_CASE("on load, an open circuit closes when its quiet period passed while certheal was stopped",
          "[policy]") {
    Fixture f;
    f.config.circuit_reset_after = 30min;  // shorter than the window, so only the quiet period applies
    f.config.attempt_window = 24h;
    RepairPolicy first(f.config, f.clock, f.store, f.sink);
    for (int i = 1; i <= 3; ++i) {
        REQUIRE(first.request("inc-" + std::to_string(i)).verdict == Verdict::allowed);
        first.finished("inc-" + std::to_string(i), false);
        f.clock.advance(10min);
    }
    REQUIRE(first.circuit_open());
    f.clock.advance(30min);

    RepairPolicy restarted(f.config, f.clock, f.store, f.sink);
    REQUIRE_FALSE(restarted.load().has_value());
    CHECK_FALSE(restarted.circuit_open());
    CHECK(f.sink.last(EventId::circuit_closed)->details["reason"] == "quiet_period");
}

TEST_CASE("on load, an open circuit closes when the whole attempt window passed since the last attempt",
          "[policy]") {
    Fixture f;
    f.fail_until_the_circuit_opens();
    REQUIRE(f.policy.circuit_open());

    SECTION("within the window it stays open") {
        f.clock.advance(58min);
        RepairPolicy restarted(f.config, f.clock, f.store, f.sink);
        REQUIRE_FALSE(restarted.load().has_value());
        CHECK(restarted.circuit_open());
        CHECK(f.sink.count(EventId::circuit_closed) == 0);
    }
    SECTION("after the window it closes") {
        f.clock.advance(1h);
        RepairPolicy restarted(f.config, f.clock, f.store, f.sink);
        REQUIRE_FALSE(restarted.load().has_value());
        CHECK_FALSE(restarted.circuit_open());
        CHECK(f.sink.last(EventId::circuit_closed)->details["reason"] == "attempt_window_passed");
        CHECK(restarted.request("inc-4").verdict == Verdict::allowed);
    }
}

TEST_CASE("a corrupt state file is reported and replaced by a fresh state", "[policy]") {
    const auto corrupt = GENERATE(as<std::string>{}, "{not json", "[1, 2]", R"({"version": 1, "attempts": "often"})",
                                  R"({"version": 1, "attempts": ["yesterday"], "last_repair_end": null, "circuit": null})",
                                  R"({"version": 99, "attempts": [], "last_repair_end": null, "circuit": null})");
    INFO(corrupt);
    Fixture f;
    f.store.set_contents(corrupt);

    const auto warning = f.policy.load();
    REQUIRE(warning.has_value());
    CHECK_THAT(*warning, Catch::Contains("fresh history"));
    CHECK_FALSE(f.policy.circuit_open());
    CHECK(f.policy.attempts_in_window() == 0);
    REQUIRE(f.store.contents());
    const auto saved = nlohmann::json::parse(*f.store.contents());
    CHECK(saved["version"] == 2);
    CHECK(saved["attempts"].empty());
    CHECK(f.policy.request("inc-1").verdict == Verdict::allowed);
}

TEST_CASE("an unreadable state file is reported and certheal starts afresh", "[policy]") {
    Fixture f;
    f.store.fail_loads(Failure{std::make_error_code(std::errc::permission_denied),
                               "The state file could not be opened: permission denied"});
    const auto warning = f.policy.load();
    REQUIRE(warning.has_value());
    CHECK_THAT(*warning, Catch::Contains("permission denied"));
    CHECK(f.policy.request("inc-1").verdict == Verdict::allowed);
}

TEST_CASE("a missing state file is a first start, not a warning", "[policy]") {
    Fixture f;
    CHECK_FALSE(f.policy.load().has_value());
    CHECK(f.store.saves() == 0);
    CHECK(f.policy.request("inc-1").verdict == Verdict::allowed);
}

TEST_CASE("the saved state round-trips attempts, the last repair end and the circuit", "[policy]") {
    Fixture f;
    f.fail_until_the_circuit_opens();
    const auto saved = nlohmann::json::parse(*f.store.contents());
    CHECK(saved["attempts"].size() == 3);
    CHECK(saved["last_repair_end"].is_string());
    CHECK(saved["circuit"]["incident"] == "inc-3");

    RepairPolicy restarted(f.config, f.clock, f.store, f.sink);
    REQUIRE_FALSE(restarted.load().has_value());
    CHECK(restarted.circuit_opened_at() == f.policy.circuit_opened_at());
    CHECK(restarted.next_allowed() == f.policy.next_allowed());
}

TEST_CASE("a dry run is decided like a repair but counts nothing and persists nothing", "[policy]") {
    Fixture f;
    const auto decision = f.policy.request("inc-1", /*dry_run=*/true);
    CHECK(decision.verdict == Verdict::allowed);
    CHECK_THAT(decision.reason_sentence, Catch::Contains("Dry run"));
    CHECK(f.policy.busy());
    CHECK(f.policy.request("inc-2", true).verdict == Verdict::busy);
    CHECK(f.policy.attempts_in_window() == 0);
    CHECK(f.store.saves() == 0);

    f.policy.finished("inc-1", false);
    CHECK_FALSE(f.policy.busy());
    CHECK(f.store.saves() == 0);
    // No cooldown and no budget used: a real repair may start right away, as often as the budget allows.
    for (int i = 0; i < 5; ++i) {
        REQUIRE(f.policy.request("dry-" + std::to_string(i), true).verdict == Verdict::allowed);
        f.policy.finished("dry-" + std::to_string(i), false);
    }
    CHECK_FALSE(f.policy.circuit_open());
    CHECK(f.policy.request("inc-2").verdict == Verdict::allowed);
}

TEST_CASE("a dry run still shows what policy would refuse", "[policy]") {
    Fixture f;
    f.repair("inc-1", true);
    CHECK(f.policy.request("inc-2", /*dry_run=*/true).verdict == Verdict::cooldown);
}

TEST_CASE("remediation disabled in the configuration refuses every repair", "[policy]") {
    Fixture f;
    f.config.enabled = false;
    f.policy.update_config(f.config);
    const auto decision = f.policy.request("inc-1");
    CHECK(decision.verdict == Verdict::disabled);
    CHECK_THAT(decision.reason_sentence, Catch::Contains("disabled"));
    CHECK_FALSE(f.policy.busy());
    CHECK(f.store.saves() == 0);
}

TEST_CASE("a state file that cannot be written is reported once, the budget holds in memory, and it is saved "
          "again as soon as it can be",
          "[policy]") {
    Fixture f;
    f.store.fail_saves(Failure{std::make_error_code(std::errc::read_only_file_system), "the disk is read-only"});
    f.repair("inc-1", false);
    REQUIRE(f.sink.count(EventId::storage_failed) == 1);
    CHECK_THAT(f.sink.last(EventId::storage_failed)->message, Catch::Contains("read-only"));
    CHECK(f.policy.attempts_in_window() == 1);
    f.policy.tick();  // still failing: not said again
    CHECK(f.sink.count(EventId::storage_failed) == 1);

    f.store.fail_saves(std::nullopt);  // space came back
    f.policy.tick();
    CHECK(f.sink.count(EventId::storage_recovered) == 1);
    REQUIRE(f.store.contents());
    CHECK_THAT(*f.store.contents(), Catch::Contains(R"("attempts")"));
    const auto saves = f.store.saves();
    f.policy.tick();  // nothing unsaved: nothing written
    CHECK(f.store.saves() == saves);
}

TEST_CASE("a repair that succeeds with the last of the budget does not open the circuit", "[policy]") {
    Fixture f;
    f.repair("inc-1", false);
    f.clock.advance(10min);
    f.repair("inc-2", false);
    f.clock.advance(10min);
    f.repair("inc-3", true);
    CHECK_FALSE(f.policy.circuit_open());
    CHECK(f.sink.count(EventId::circuit_opened) == 0);
    CHECK(f.policy.request("inc-4").verdict == Verdict::budget_spent);
}

namespace {

// A host-wide lock another repairer may hold.
struct FakeRepairLock : RepairLock {
    bool held_elsewhere = false;
    bool held_here = false;
    int acquisitions = 0;
    std::optional<Failure> cannot_be_made;
    Result<bool> try_acquire() override {
        if (cannot_be_made) return *cannot_be_made;
        if (held_elsewhere) return false;
        held_here = true;
        ++acquisitions;
        return true;
    }
    void release() noexcept override { held_here = false; }
};

}  // namespace

TEST_CASE("an operator's repair ignores the cooldown but counts toward the budget", "[policy][operator]") {
    Fixture f;
    f.repair("inc-1", true);
    CHECK(f.policy.request("inc-2").verdict == Verdict::cooldown);
    const auto manual = f.policy.request_manual("manual-1", /*dry_run=*/false, /*force=*/false);
    CHECK(manual.verdict == Verdict::allowed);
    CHECK(f.policy.attempts_in_window() == 2);
    f.policy.finished("manual-1", true);
    REQUIRE(f.policy.last_repair());
    CHECK(f.policy.last_repair()->manual);
    CHECK(f.policy.last_repair()->incident == "manual-1");
    CHECK(nlohmann::json::parse(*f.store.contents())["last_repair"]["manual"] == true);
}

TEST_CASE("an operator's repair is refused while the circuit is open unless forced", "[policy][operator]") {
    Fixture f;
    f.fail_until_the_circuit_opens();
    REQUIRE(f.policy.circuit_open());
    const auto refused = f.policy.request_manual("manual-1", false, false);
    CHECK(refused.verdict == Verdict::circuit_open);
    CHECK_THAT(refused.reason_sentence, Catch::Contains("certheal resume") && Catch::Contains("--force"));
    CHECK(f.policy.request_manual("manual-1", false, /*force=*/true).verdict == Verdict::allowed);
}

TEST_CASE("an operator's repair runs even when remediation is disabled for certheal itself", "[policy][operator]") {
    Fixture f;
    f.config.enabled = false;
    f.policy.update_config(f.config);
    CHECK(f.policy.request("inc-1").verdict == Verdict::disabled);
    CHECK(f.policy.request_manual("manual-1", false, false).verdict == Verdict::allowed);
}

TEST_CASE("the circuit closes on its own timer at circuit_reset_after, without another request", "[policy]") {
    Fixture f;
    f.policy.close_circuit_on_time();
    f.fail_until_the_circuit_opens();
    REQUIRE(f.policy.circuit_open());
    CHECK(f.clock.pending_timers() == 1);
    f.clock.advance(6h - 1s);
    CHECK(f.policy.circuit_open());
    f.clock.advance(1s);
    CHECK_FALSE(f.policy.circuit_open());
    REQUIRE(f.sink.count(EventId::circuit_closed) == 1);
    CHECK(f.sink.last(EventId::circuit_closed)->details["reason"] == "quiet_period");
    CHECK(f.clock.pending_timers() == 0);
}

TEST_CASE("resume closes the circuit and clears the budget; on a closed circuit it still clears the budget",
          "[policy][operator]") {
    Fixture f;
    f.fail_until_the_circuit_opens();
    CHECK(f.policy.reset_circuit("certheal resume"));
    CHECK_FALSE(f.policy.circuit_open());
    CHECK(f.policy.attempts_in_window() == 0);
    auto closed = f.sink.last(EventId::circuit_closed);
    REQUIRE(closed);
    CHECK(closed->details["reason"] == "operator");
    CHECK_THAT(closed->message, Catch::Contains("reset the repair circuit breaker;"));
    CHECK(closed->details["requested_by"] == "certheal resume");
    CHECK(closed->details["was_open"] == true);

    f.clock.advance(1h);
    f.repair("inc-9", true);
    CHECK(f.policy.reset_circuit("certheal resume"));
    CHECK(f.policy.attempts_in_window() == 0);
    closed = f.sink.last(EventId::circuit_closed);
    CHECK_THAT(closed->message, Catch::Contains("already closed"));
    CHECK(f.sink.count(EventId::circuit_closed) == 2);
}

TEST_CASE("resume is refused while a repair runs", "[policy][operator]") {
    Fixture f;
    REQUIRE(f.policy.request("inc-1").allowed());
    CHECK_FALSE(f.policy.reset_circuit("certheal resume"));
}

TEST_CASE("a repair held elsewhere on the host makes the policy busy; its own lock is released when it ends",
          "[policy][operator]") {
    Fixture f;
    FakeRepairLock lock;
    f.policy.set_host_lock(&lock);
    lock.held_elsewhere = true;
    const auto busy = f.policy.request("inc-1");
    CHECK(busy.verdict == Verdict::busy);
    CHECK_THAT(busy.reason_sentence, Catch::Contains("Another repair is running on this host"));
    CHECK(f.policy.attempts_in_window() == 0);

    lock.held_elsewhere = false;
    REQUIRE(f.policy.request("inc-1").allowed());
    CHECK(lock.held_here);
    f.policy.finished("inc-1", true);
    CHECK_FALSE(lock.held_here);
}

TEST_CASE("a repair lock that cannot be made refuses the repair with the lock's reason and counts nothing",
          "[policy][operator]") {
    Fixture f;
    FakeRepairLock lock;
    f.policy.set_host_lock(&lock);
    lock.cannot_be_made = Failure{std::make_error_code(std::errc::permission_denied),
                                  "certheal did not open its repair lock /var/lib/certheal/repair.lock: it is a folder"};
    for (const bool manual : {false, true}) {
        const auto refused = manual ? f.policy.request_manual("manual-1", false, /*force=*/true) : f.policy.request("inc-1");
        CHECK(refused.verdict == Verdict::lock_unavailable);
        CHECK(to_string(refused.verdict) == "lock_unavailable");
        CHECK_THAT(refused.reason_sentence, Catch::Contains("does not repair"));
        CHECK_THAT(refused.details.at("error").get<std::string>(), Catch::Contains("it is a folder"));
    }
    CHECK(f.policy.attempts_in_window() == 0);
    CHECK_FALSE(lock.held_here);
    // A dry run changes nothing and needs no lock.
    CHECK(f.policy.request("inc-1", /*dry_run=*/true).verdict == Verdict::allowed);
}

TEST_CASE("the policy decides on the history the other repairer saved since", "[policy][operator]") {
    Fixture f;
    REQUIRE_FALSE(f.policy.load());
    // `certheal repair` ran three failing repairs and opened the circuit while the service ran.
    const auto now = format_time_utc(f.clock.wall_now());
    f.store.set_contents(nlohmann::json{{"version", 1},
                                   {"attempts", {now, now, now}},
                                   {"last_repair_end", now},
                                   {"circuit", {{"opened_at", now}, {"incident", "manual-3"}}}}
                            .dump());
    CHECK(f.policy.request("inc-1").verdict == Verdict::circuit_open);
}

// --- time: the wall clock steps, saved times from the future ---------------------------------

TEST_CASE("a wall clock set back while certheal runs does not hold repairs for the length of the step",
          "[policy][time]") {
    Fixture f;
    f.repair("inc-1", true);
    f.clock.set_now(f.clock.wall_now() - 20h);  // NTP corrects a clock that ran 20 hours ahead
    CHECK(f.policy.request("inc-2").verdict == Verdict::cooldown);
    f.clock.advance(10min);  // the cooldown, measured on the monotonic clock
    CHECK(f.policy.request("inc-2").verdict == Verdict::allowed);
}

TEST_CASE("a wall clock set forward while certheal runs neither closes the circuit nor frees the budget early",
          "[policy][time]") {
    Fixture f;
    f.policy.close_circuit_on_time();
    f.fail_until_the_circuit_opens();
    REQUIRE(f.policy.circuit_open());
    f.clock.set_now(f.clock.wall_now() + 20h);
    f.policy.tick();
    CHECK(f.policy.circuit_open());
    CHECK(f.policy.attempts_in_window() == 3);
    CHECK(f.policy.request("inc-4").verdict == Verdict::circuit_open);
    // The times the status shows are in today's wall time: the circuit closes 6 hours after it
    // opened, as the clock reads now.
    REQUIRE(f.policy.circuit_closes_at());
    CHECK(*f.policy.circuit_closes_at() - *f.policy.circuit_opened_at() == 6h);
    CHECK(*f.policy.circuit_opened_at() > f.clock.wall_now() - 1h);

    f.clock.advance(6h);
    CHECK_FALSE(f.policy.circuit_open());
    CHECK(f.sink.last(EventId::circuit_closed)->details["reason"] == "quiet_period");
}

TEST_CASE("a wall clock step does not make a saved moment of this process look newer when it is read back",
          "[policy][time]") {
    Fixture f;
    f.repair("inc-1", true);
    f.clock.set_now(f.clock.wall_now() + 20h);
    // Each decision re-reads the saved history (written before the step): the cooldown still
    // ends 10 minutes after the repair, not 20 hours later.
    f.clock.advance(10min);
    CHECK(f.policy.request("inc-2").verdict == Verdict::allowed);
}

namespace {

std::string future_state(TimePoint now, Duration ahead, int attempts, bool circuit_open) {
    const auto when = format_time_utc(now + ahead);
    nlohmann::json state = {{"version", 1}, {"attempts", nlohmann::json::array()}, {"last_repair_end", when}};
    for (int i = 0; i < attempts; ++i) state["attempts"].push_back(when);
    state["circuit"] = circuit_open ? nlohmann::json{{"opened_at", when}, {"incident", "inc-3"}} : nlohmann::json();
    return state.dump();
}

}  // namespace

TEST_CASE("times in the saved state from the future are counted as now and said, and the history is kept",
          "[policy][time]") {
    Fixture f;
    f.store.set_contents(future_state(f.clock.wall_now(), 20h, 3, true));
    CHECK_FALSE(f.policy.load().has_value());  // not a reason to start afresh

    CHECK(f.policy.circuit_open());
    CHECK(f.policy.attempts_in_window() == 3);
    CHECK(f.policy.circuit_opened_at() == f.clock.wall_now());
    CHECK(f.policy.circuit_closes_at() == f.clock.wall_now() + 6h);
    REQUIRE(f.sink.count(EventId::repair_skipped) == 1);
    const auto said = *f.sink.last(EventId::repair_skipped);
    CHECK(said.details["reason"] == "state_times_clamped");
    CHECK(said.details["clamped"] == 5);
    CHECK(said.details["ahead_by"] == "20h");
    CHECK_THAT(said.message, Catch::Contains("20h ahead") && Catch::Contains("counts them as now"));

    // Saved as now: nothing in the file lies in the future any more.
    const auto saved = nlohmann::json::parse(*f.store.contents());
    const auto not_after_now = [&](const nlohmann::json& text) {
        return *parse_time_utc(text.get<std::string>()) <= f.clock.wall_now();
    };
    CHECK(not_after_now(saved["circuit"]["opened_at"]));
    CHECK(not_after_now(saved["last_repair_end"]));
    for (const auto& attempt : saved["attempts"]) CHECK(not_after_now(attempt["counted_from"]));

    f.clock.advance(6h);
    f.policy.tick();
    CHECK_FALSE(f.policy.circuit_open());  // 6 hours from when it was read, not 26
}

TEST_CASE("a restart after saved times were clamped measures from the first reading, not from each start",
          "[policy][time]") {
    Fixture f;
    f.config.attempt_window = 24h;  // so only the quiet period can close the circuit
    f.policy.update_config(f.config);
    f.store.set_contents(future_state(f.clock.wall_now(), 20h, 3, true));
    REQUIRE_FALSE(f.policy.load().has_value());
    f.clock.advance(5h);

    RepairPolicy restarted(f.config, f.clock, f.store, f.sink);
    REQUIRE_FALSE(restarted.load().has_value());
    CHECK(restarted.circuit_open());
    CHECK(f.sink.count(EventId::repair_skipped) == 1);  // said once, at the first reading
    f.clock.advance(1h);
    restarted.tick();
    CHECK_FALSE(restarted.circuit_open());
}

TEST_CASE("saved attempts are pruned whatever their order", "[policy][time]") {
    Fixture f;
    const auto now = f.clock.wall_now();
    const auto at = [&](Duration ago) { return format_time_utc(now - ago); };
    // Newest first, the old ones in between: only the two within the hour count.
    f.store.set_contents(nlohmann::json{{"version", 1},
                                        {"attempts", {at(5min), at(3h), at(10min), at(2h)}},
                                        {"last_repair_end", at(5min)},
                                        {"circuit", nullptr}}
                             .dump());
    REQUIRE_FALSE(f.policy.load().has_value());
    CHECK(f.policy.attempts_in_window() == 2);
    f.clock.advance(10min);
    const auto decision = f.policy.request("inc-1");
    REQUIRE(decision.verdict == Verdict::allowed);
    CHECK_THAT(decision.reason_sentence, Catch::Contains("3rd of at most 3"));
}

// --- merging: two processes, one saved history --------------------------------------------------

namespace {

// The service and `certheal repair` (or `certheal resume`) on the same host: two policies, one store.
struct TwoProcesses {
    RemediationConfig config = seed_settings();
    FakeClock clock;
    MemoryStateStore store;
    RecordingSink service_events;
    RecordingSink command_events;
    RepairPolicy service{config, clock, store, service_events};
    RepairPolicy command{config, clock, store, command_events};

    TwoProcesses() {
        REQUIRE_FALSE(service.load());
        REQUIRE_FALSE(command.load());
    }
    nlohmann::json saved() const { return nlohmann::json::parse(*store.contents()); }
};

}  // namespace

TEST_CASE("a resume during another process's repair is not undone when that repair ends", "[policy][merge]") {
    TwoProcesses p;
    // The service spent its budget and opened the circuit.
    for (int i = 1; i <= 3; ++i) {
        REQUIRE(p.service.request("inc-" + std::to_string(i)).allowed());
        p.service.finished("inc-" + std::to_string(i), false);
        p.clock.advance(10min);
    }
    REQUIRE(p.service.circuit_open());
    // An operator forces a repair by hand; while it runs, another operator resumes the service.
    REQUIRE(p.command.request_manual("manual-1", false, /*force=*/true).allowed());
    p.clock.advance(1min);
    REQUIRE(p.service.reset_circuit("certheal resume"));
    p.clock.advance(1min);
    p.command.finished("manual-1", false);

    const auto saved = p.saved();
    CHECK(saved["circuit"].is_null());
    CHECK(saved["attempts"].empty());  // every attempt started before the resume
    CHECK(saved["last_repair"]["incident"] == "manual-1");  // the repair's end is kept
    CHECK(saved["operator_reset_at"].is_string());
    CHECK(p.command_events.count(EventId::circuit_opened) == 0);
    CHECK_FALSE(p.command.circuit_open());
    // The service decides on the same: a fresh budget, after the manual repair's cooldown.
    CHECK(p.service.request("inc-4").verdict == Verdict::cooldown);
    p.clock.advance(10min);
    CHECK(p.service.request("inc-4").verdict == Verdict::allowed);
}

TEST_CASE("attempts that two processes record are merged, never saved over", "[policy][merge]") {
    TwoProcesses p;
    REQUIRE(p.service.request("inc-1").allowed());
    REQUIRE(p.command.request_manual("manual-1", false, false).allowed());
    p.command.finished("manual-1", true);
    p.clock.advance(1min);
    p.service.finished("inc-1", true);  // saved last, from a copy that never saw manual-1
    const auto saved = p.saved();
    REQUIRE(saved["attempts"].size() == 2);
    std::set<std::string> incidents;
    for (const auto& attempt : saved["attempts"]) incidents.insert(attempt["incident"].get<std::string>());
    CHECK(incidents == std::set<std::string>{"inc-1", "manual-1"});
    CHECK(p.service.attempts_in_window() == 2);
    CHECK(p.command.attempts_in_window() == 2);
    CHECK(saved["last_repair"]["incident"] == "inc-1");  // the later end
}

TEST_CASE("the circuit's latest decision wins over a copy that was saved from before it", "[policy][merge]") {
    TwoProcesses p;
    // The command line opens the circuit with three failed repairs...
    for (int i = 1; i <= 3; ++i) {
        REQUIRE(p.command.request_manual("manual-" + std::to_string(i), false, false).allowed());
        p.command.finished("manual-" + std::to_string(i), false);
    }
    REQUIRE(p.command.circuit_open());
    // ...while the service, which still holds a closed circuit in memory, saves its own change.
    p.clock.advance(1min);
    p.service.tick();
    REQUIRE(p.service.reset_circuit("certheal resume") == true);
    CHECK(p.saved()["circuit"].is_null());  // the resume is later than the opening: it wins
    p.clock.advance(1min);
    // The command line, still holding the open circuit, saves again: it cannot reopen it.
    REQUIRE(p.command.request_manual("manual-4", false, /*force=*/false).allowed());
    CHECK_FALSE(p.command.circuit_open());
    CHECK(p.saved()["circuit"].is_null());
    CHECK(p.saved()["attempts"].size() == 1);
}

TEST_CASE("a version 1 state with identical attempt times counts each attempt", "[policy][merge]") {
    Fixture f;
    const auto now = format_time_utc(f.clock.wall_now() - 1min);
    f.store.set_contents(
        nlohmann::json{{"version", 1}, {"attempts", {now, now}}, {"last_repair_end", now}, {"circuit", nullptr}}
            .dump());
    REQUIRE_FALSE(f.policy.load().has_value());
    CHECK(f.policy.attempts_in_window() == 2);
    f.clock.advance(10min);
    REQUIRE(f.policy.request("inc-1").allowed());
    CHECK(nlohmann::json::parse(*f.store.contents())["attempts"].size() == 3);
}

// --- the maintenance pause ----------------------------------------------------------------------

TEST_CASE("a pause of the host holds every repair and ends by itself at its time", "[policy][pause]") {
    Fixture f;
    f.policy.close_circuit_on_time();  // as the service: the pause ends on a timer
    const auto started = f.clock.wall_now();
    const auto pause = f.policy.pause("", 2h, "alice", "web server upgrade");
    REQUIRE(pause.until);
    CHECK(*pause.until == started + 2h);
    const auto said = *f.sink.last(EventId::paused);
    CHECK(said.details.at("scope") == "host");
    CHECK(said.details.at("by") == "alice");
    CHECK(said.details.at("until") == format_time_utc(started + 2h));
    CHECK(said.details.at("reason") == "web server upgrade");

    const auto held = f.policy.request("inc-1", false, "intranet");
    CHECK(held.verdict == Verdict::paused);
    REQUIRE(held.retry_after);
    CHECK(*held.retry_after == started + 2h);
    CHECK_THAT(held.reason_sentence, Catch::Contains("paused until " + format_time_utc(started + 2h)) &&
                                         Catch::Contains("alice") && Catch::Contains("inc-1"));
    CHECK(f.policy.attempts_in_window() == 0);  // held, not spent
    CHECK(f.policy.request("inc-1", /*dry_run=*/true).verdict == Verdict::paused);

    f.clock.advance(2h - 1ms);
    CHECK(f.sink.count(EventId::unpaused) == 0);
    f.clock.advance(1ms);  // no request, no probe: the timer ends it
    REQUIRE(f.sink.count(EventId::unpaused) == 1);
    const auto ended = *f.sink.last(EventId::unpaused);
    CHECK(ended.details.at("by") == "by itself");
    CHECK(ended.details.at("paused_by") == "alice");
    CHECK_FALSE(f.policy.pause_holding("intranet"));
    CHECK(f.policy.request("inc-1", false, "intranet").verdict == Verdict::allowed);
}

TEST_CASE("a pause of one site holds only that site's repairs", "[policy][pause]") {
    Fixture f;
    f.policy.pause("portal", std::nullopt, "bob", "");
    CHECK(f.sink.last(EventId::paused)->site == "portal");
    CHECK(f.sink.last(EventId::paused)->details.at("until").is_null());  // until certheal unpause

    const auto held = f.policy.request("inc-1", false, "portal");
    CHECK(held.verdict == Verdict::paused);
    CHECK_FALSE(held.retry_after);
    CHECK_THAT(held.reason_sentence, Catch::Contains("until certheal unpause"));
    CHECK(f.policy.request("inc-2", false, "intranet").verdict == Verdict::allowed);
    REQUIRE(f.policy.pauses().size() == 1);
    CHECK(f.policy.pauses().front().site == "portal");
}

TEST_CASE("a pause is saved, survives a restart and ends while certheal is stopped", "[policy][pause]") {
    Fixture f;
    const auto started = f.clock.wall_now();
    f.policy.pause("", 1h, "alice", "patching");
    const auto saved = nlohmann::json::parse(*f.store.contents());
    REQUIRE(saved.at("pauses").size() == 1);
    CHECK(saved.at("pauses")[0].at("paused") == true);
    CHECK(saved.at("pauses")[0].at("length_ms") == 3600000);
    CHECK(saved.at("pauses")[0].at("until") == format_time_utc(started + 1h));

    f.clock.advance(30min);
    {
        RecordingSink sink;
        RepairPolicy restarted(f.config, f.clock, f.store, sink);
        CHECK_FALSE(restarted.load());
        const auto held = restarted.pause_holding("intranet");
        REQUIRE(held);
        CHECK(held->until == started + 1h);
        CHECK(held->by == "alice");
        CHECK(held->reason == "patching");
        CHECK(restarted.request("inc-1").verdict == Verdict::paused);
        CHECK(sink.count(EventId::unpaused) == 0);
    }
    f.clock.advance(31min);
    RecordingSink sink;
    RepairPolicy restarted(f.config, f.clock, f.store, sink);
    restarted.load();
    REQUIRE(sink.count(EventId::unpaused) == 1);
    CHECK_THAT(sink.last(EventId::unpaused)->message, Catch::Contains("while certheal was not running"));
    CHECK(restarted.request("inc-1").verdict == Verdict::allowed);
    // Said once: the end is saved.
    RecordingSink again_sink;
    RepairPolicy again(f.config, f.clock, f.store, again_sink);
    again.load();
    CHECK(again_sink.count(EventId::unpaused) == 0);
}

TEST_CASE("an unpause saved by another process wins over the pause a running policy holds", "[policy][pause]") {
    Fixture f;
    f.policy.pause("", std::nullopt, "alice", "");
    f.clock.advance(1min);
    RecordingSink command_sink;
    RepairPolicy command(f.config, f.clock, f.store, command_sink);  // certheal unpause
    command.load();
    CHECK(command.unpause("", "bob") == 1);
    CHECK(command_sink.last(EventId::unpaused)->details.at("by") == "bob");
    CHECK(command.unpause("", "bob") == 0);  // nothing left to end

    CHECK(f.policy.pause_holding(""));  // not read yet
    f.policy.refresh();
    CHECK_FALSE(f.policy.pause_holding(""));
    // A change the running policy saves later keeps the unpause.
    CHECK(f.policy.request("inc-1").verdict == Verdict::allowed);
    f.policy.finished("inc-1", true);
    const auto saved = nlohmann::json::parse(*f.store.contents());
    CHECK(saved.at("pauses")[0].at("paused") == false);
}

TEST_CASE("a repair by hand is refused while paused unless forced", "[policy][pause]") {
    Fixture f;
    f.policy.pause("", 1h, "alice", "");
    const auto refused = f.policy.request_manual("manual-1", false, /*force=*/false);
    CHECK(refused.verdict == Verdict::paused);
    CHECK_THAT(refused.reason_sentence, Catch::Contains("certheal unpause") && Catch::Contains("--force"));
    CHECK(f.policy.request_manual("manual-1", false, /*force=*/true).verdict == Verdict::allowed);
}

TEST_CASE("a saved pause that is not what certheal writes is refused like any damaged state", "[policy][pause]") {
    Fixture f;
    f.store.set_contents(R"({"version": 2, "attempts": [], "last_repair_end": null, "circuit": null,
                             "pauses": [{"site": null, "paused": true, "at": "2026-11-24T21:00:00.000Z",
                                         "length_ms": -5}]})");
    const auto warning = f.policy.load();
    REQUIRE(warning);
    CHECK_THAT(*warning, Catch::Contains("length_ms"));
    CHECK_FALSE(f.policy.pause_holding(""));
}
