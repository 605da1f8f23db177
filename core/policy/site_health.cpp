#include "core/policy/site_health.hpp"

#include <algorithm>

#include "core/model/config_model.hpp"

namespace certheal {

SiteHealth::SiteHealth(int failure_threshold, int success_threshold)
    : failure_threshold_(std::max(failure_threshold, 1)), success_threshold_(std::max(success_threshold, 1)) {}

SiteHealth::Transition SiteHealth::record(Reading reading) {
    switch (reading) {
        case Reading::healthy:
            symptomatic_streak_ = 0;
            ++healthy_streak_;
            if (confirmed_ && healthy_streak_ >= success_threshold_) {
                confirmed_ = false;
                return Transition::recovered;
            }
            return Transition::none;
        case Reading::symptomatic:
            healthy_streak_ = 0;
            ++symptomatic_streak_;
            if (!confirmed_ && symptomatic_streak_ >= failure_threshold_) {
                confirmed_ = true;
                return Transition::symptom_confirmed;
            }
            return Transition::none;
        case Reading::other_failure:
            // A timeout or a bad server certificate is not the desync symptom, so it must not
            // count towards a repair; it is not health either, so it cannot clear one.
            symptomatic_streak_ = 0;
            healthy_streak_ = 0;
            return Transition::none;
    }
    return Transition::none;
}

SiteHealth::Reading reading_of(const ProbeResult& result, const SiteConfig& site) {
    if (result.probe_class == ProbeClass::healthy) return SiteHealth::Reading::healthy;
    if (site.symptoms.contains(result.probe_class)) return SiteHealth::Reading::symptomatic;
    return SiteHealth::Reading::other_failure;
}

}  // namespace certheal
