#pragma once
// The monitor's view of the host trust diagnosis (core/repair/diagnosis): it runs the diagnosis
// on the WorkerPool (reading the registry, http.sys and the stores blocks), keeps the latest one,
// and says when the host trust fingerprint changed. The monitor asks for it at start, on reload,
// when a symptom is confirmed and before each repair, and once a day.
//
// On a host without Schannel (no inspector, or one that is not available) it does nothing and
// every refresh calls back at once, so the monitor behaves as if there were no diagnosis at all.
//
// Single-threaded: call everything on the monitor's thread.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/clock.hpp"
#include "core/model/config_model.hpp"
#include "core/model/host_trust.hpp"
#include "core/model/ports.hpp"
#include "core/repair/diagnosis.hpp"

namespace certheal {

class HostTrustWatch {
public:
    // `identities`: where a store client certificate is selected (none: such a site is unknown).
    HostTrustWatch(HostTrustInspector* inspector, CertificateStores& stores, WorkerPool& workers, Clock& clock,
                   ClientIdentitySource* identities = nullptr);
    ~HostTrustWatch();
    HostTrustWatch(const HostTrustWatch&) = delete;
    HostTrustWatch& operator=(const HostTrustWatch&) = delete;

    bool enabled() const noexcept;

    // Whether the latest diagnosis is older than `fresh_for` (or there is none); false when not
    // enabled.
    bool stale(Duration fresh_for) const;

    // Diagnoses `sites` on a worker, unless the latest diagnosis is younger than `fresh_for`, then
    // calls `then` on the monitor's thread. A refresh asked for while one runs waits for it.
    // Not enabled: `then` runs at once.
    void refresh(const std::vector<SiteConfig>& sites, Duration fresh_for, std::function<void()> then);

    // Called (monitor thread) when a diagnosis's fingerprint differs from the one before it; the
    // first diagnosis sets the baseline and calls nothing.
    using FingerprintListener = std::function<void(const HostTrustFingerprint& before, const HostDiagnosis& now)>;
    void on_fingerprint_change(FingerprintListener listener) { fingerprint_listener_ = std::move(listener); }

    // Stops calling back: refreshes still running are dropped when they return.
    void stop();

    const HostDiagnosis* latest() const noexcept { return latest_.get(); }
    std::optional<TrustCause> cause_of(const std::string& site) const;
    // {"cause": ..., "host_trust": {...}} to merge into an event's details; {} when none.
    nlohmann::json evidence_of(const std::string& site) const;

private:
    void start(const std::vector<SiteConfig>& sites);
    void finished(std::shared_ptr<HostDiagnosis> diagnosis);

    HostTrustInspector* inspector_;
    CertificateStores& stores_;
    WorkerPool& workers_;
    Clock& clock_;
    ClientIdentitySource* identities_;
    std::shared_ptr<HostDiagnosis> latest_;
    std::optional<MonotonicTime> latest_at_;
    bool running_ = false;
    bool stopped_ = false;
    std::vector<std::function<void()>> waiting_;
    std::optional<std::vector<SiteConfig>> rerun_sites_;
    FingerprintListener fingerprint_listener_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace certheal
