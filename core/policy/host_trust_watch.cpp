#include "core/policy/host_trust_watch.hpp"

#include <exception>
#include <utility>

namespace certheal {

HostTrustWatch::HostTrustWatch(HostTrustInspector* inspector, CertificateStores& stores, WorkerPool& workers,
                               Clock& clock, ClientIdentitySource* identities)
    : inspector_(inspector), stores_(stores), workers_(workers), clock_(clock), identities_(identities) {}

HostTrustWatch::~HostTrustWatch() { *alive_ = false; }

bool HostTrustWatch::enabled() const noexcept { return inspector_ != nullptr && inspector_->available(); }

bool HostTrustWatch::stale(Duration fresh_for) const {
    if (!enabled()) return false;
    return !latest_at_ || clock_.monotonic_now() - *latest_at_ >= fresh_for;
}

void HostTrustWatch::refresh(const std::vector<SiteConfig>& sites, Duration fresh_for, std::function<void()> then) {
    if (!enabled() || stopped_) {
        if (then && !stopped_) then();
        return;
    }
    if (!running_ && !stale(fresh_for)) {
        if (then) then();
        return;
    }
    if (then) waiting_.push_back(std::move(then));
    if (running_) {
        // What runs now may be about an older configuration: run once more when it is done.
        if (fresh_for <= Duration::zero()) rerun_sites_ = sites;
        return;
    }
    start(sites);
}

void HostTrustWatch::start(const std::vector<SiteConfig>& sites) {
    running_ = true;
    auto result = std::make_shared<std::shared_ptr<HostDiagnosis>>();
    const TimePoint now = clock_.wall_now();
    workers_.submit(
        [inspector = inspector_, &stores = stores_, identities = identities_, sites, now, result] {
            try {
                *result = std::make_shared<HostDiagnosis>(
                    diagnose_host(gather_host_trust(*inspector, stores, sites, now, identities)));
            } catch (const std::exception&) {
                // The diagnosis is evidence, never a reason to stop: the last one stays.
                result->reset();
            }
        },
        [this, alive = std::weak_ptr<bool>(alive_), result] {
            const auto still = alive.lock();
            if (!still || !*still) return;
            finished(*result);
        });
}

void HostTrustWatch::finished(std::shared_ptr<HostDiagnosis> diagnosis) {
    running_ = false;
    if (stopped_) {
        waiting_.clear();
        return;
    }
    if (diagnosis) {
        const auto before = latest_;
        latest_ = std::move(diagnosis);
        latest_at_ = clock_.monotonic_now();
        if (before && before->fingerprint.value != latest_->fingerprint.value && fingerprint_listener_) {
            fingerprint_listener_(before->fingerprint, *latest_);
        }
    }
    if (rerun_sites_) {
        const auto sites = std::move(*rerun_sites_);
        rerun_sites_.reset();
        start(sites);
        return;
    }
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& then : waiting) then();
}

void HostTrustWatch::stop() {
    stopped_ = true;
    rerun_sites_.reset();
    waiting_.clear();
}

std::optional<TrustCause> HostTrustWatch::cause_of(const std::string& site) const {
    if (!latest_) return std::nullopt;
    const SiteDiagnosis* found = latest_->site(site);
    if (found == nullptr) return std::nullopt;
    return found->cause();
}

nlohmann::json HostTrustWatch::evidence_of(const std::string& site) const {
    if (!latest_) return nlohmann::json::object();
    auto evidence = host_trust_evidence(*latest_, site);
    if (evidence.empty()) return nlohmann::json::object();
    nlohmann::json details = {{"cause", evidence["cause"]}};
    details["host_trust"] = std::move(evidence);
    return details;
}

}  // namespace certheal
