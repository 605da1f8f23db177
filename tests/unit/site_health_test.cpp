#include <catch2/catch.hpp>

#include <vector>

#include "config/config.hpp"
#include "core/policy/site_health.hpp"

using namespace certheal;
using Reading = SiteHealth::Reading;
using Transition = SiteHealth::Transition;

namespace {
constexpr auto H = Reading::healthy;
constexpr auto S = Reading::symptomatic;
constexpr auto O = Reading::other_failure;
constexpr auto none = Transition::none;
constexpr auto confirmed = Transition::symptom_confirmed;
constexpr auto recovered = Transition::recovered;

std::vector<Transition> feed(SiteHealth& health, const std::vector<Reading>& readings) {
    std::vector<Transition> transitions;
    for (const auto reading : readings) transitions.push_back(health.record(reading));
    return transitions;
}
}  // namespace

TEST_CASE("hysteresis follows the failure and success thresholds", "[site_health]") {
    struct Row {
        int failure_threshold;
        int success_threshold;
        std::vector<Reading> readings;
        std::vector<Transition> expected;
    };
    // clang-format off
    const std::vector<Row> table{
        // three symptomatic probes in a row confirm, one healthy probe recovers
        {3, 1, {S, S, S, H},          {none, none, confirmed, recovered}},
        // a healthy probe in between restarts the count
        {3, 1, {S, S, H, S, S, S},    {none, none, none, none, none, confirmed}},
        // a non-symptom failure breaks the symptomatic streak
        {3, 1, {S, S, O, S, S},       {none, none, none, none, none}},
        // confirmed only once per episode, however long it lasts
        {2, 1, {S, S, S, S, S},       {none, confirmed, none, none, none}},
        // recovery needs success_threshold healthy probes in a row
        {1, 3, {S, H, H, H},          {confirmed, none, none, recovered}},
        // a symptomatic probe during recovery restarts the healthy count, no second confirmation
        {1, 2, {S, H, S, H, H},       {confirmed, none, none, none, recovered}},
        // another kind of failure during recovery breaks the healthy streak but does not clear
        {1, 2, {S, H, O, H, H},       {confirmed, none, none, none, recovered}},
        // healthy probes without a confirmed symptom recover nothing
        {2, 1, {H, H, S, H},          {none, none, none, none}},
        // a new episode after recovery confirms again
        {2, 1, {S, S, H, S, S},       {none, confirmed, recovered, none, confirmed}},
        // threshold 1 confirms on the first symptomatic probe
        {1, 1, {O, S},                {none, confirmed}},
    };
    // clang-format on
    for (std::size_t row = 0; row < table.size(); ++row) {
        INFO("table row " << row);
        SiteHealth health(table[row].failure_threshold, table[row].success_threshold);
        CHECK(feed(health, table[row].readings) == table[row].expected);
    }
}

TEST_CASE("the streak counters and the confirmed flag track the readings", "[site_health]") {
    SiteHealth health(3, 2);
    feed(health, {S, S});
    CHECK(health.consecutive_symptomatic() == 2);
    CHECK(health.consecutive_healthy() == 0);
    CHECK_FALSE(health.symptom_confirmed());

    health.record(S);
    CHECK(health.symptom_confirmed());
    health.record(H);
    CHECK(health.consecutive_symptomatic() == 0);
    CHECK(health.consecutive_healthy() == 1);
    CHECK(health.symptom_confirmed());

    health.record(O);
    CHECK(health.consecutive_healthy() == 0);
    CHECK(health.consecutive_symptomatic() == 0);
    CHECK(health.symptom_confirmed());
}

TEST_CASE("a threshold below one behaves like one", "[site_health]") {
    SiteHealth health(0, -2);
    CHECK(health.record(S) == confirmed);
    CHECK(health.record(H) == recovered);
}

TEST_CASE("a probe is healthy, symptomatic or another failure according to the site's symptoms",
          "[site_health]") {
    SiteConfig site;
    site.symptoms = {ProbeClass::client_cert_rejected, ProbeClass::connect_failed};
    auto result_of = [](ProbeClass probe_class) {
        ProbeResult result;
        result.probe_class = probe_class;
        return result;
    };
    CHECK(reading_of(result_of(ProbeClass::healthy), site) == H);
    CHECK(reading_of(result_of(ProbeClass::client_cert_rejected), site) == S);
    CHECK(reading_of(result_of(ProbeClass::connect_failed), site) == S);
    CHECK(reading_of(result_of(ProbeClass::timeout), site) == O);
    CHECK(reading_of(result_of(ProbeClass::tls_error), site) == O);
    CHECK(reading_of(result_of(ProbeClass::unexpected_status), site) == O);

    site.symptoms = {ProbeClass::timeout};
    CHECK(reading_of(result_of(ProbeClass::timeout), site) == S);
    CHECK(reading_of(result_of(ProbeClass::client_cert_rejected), site) == O);
}
