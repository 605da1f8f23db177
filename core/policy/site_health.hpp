#pragma once
// Per-site hysteresis: one bad probe is noise; failure_threshold consecutive symptomatic
// probes confirm the symptom, and success_threshold consecutive healthy ones clear it.

#include "core/model/probe_result.hpp"

namespace certheal {

struct SiteConfig;  // config/config.hpp

class SiteHealth {
public:
    enum class Reading {
        healthy,
        symptomatic,    // a class listed in the site's symptoms
        other_failure,  // unhealthy but not the symptom: breaks both streaks, changes nothing else
    };
    enum class Transition { none, symptom_confirmed, recovered };

    // Thresholds below 1 are treated as 1 (config validation rejects them anyway).
    SiteHealth(int failure_threshold, int success_threshold);

    // Confirms at most once per episode: while confirmed, further symptomatic probes return none.
    Transition record(Reading reading);

    bool symptom_confirmed() const noexcept { return confirmed_; }
    int consecutive_symptomatic() const noexcept { return symptomatic_streak_; }
    int consecutive_healthy() const noexcept { return healthy_streak_; }

private:
    int failure_threshold_;
    int success_threshold_;
    bool confirmed_ = false;
    int symptomatic_streak_ = 0;
    int healthy_streak_ = 0;
};

SiteHealth::Reading reading_of(const ProbeResult& result, const SiteConfig& site);

}  // namespace certheal
