#pragma once
// BindingTrustSource on Windows: what trust_ca "store": "auto" needs of a site, read the way
// `certheal diagnose` reads it. ClientAuthTrustMode from the SCHANNEL key, the site's
// effective http.sys SSL binding (its Ctl Store Name) through the HostTrustInspector, and the
// stores that decide where Schannel takes its trusted issuers from (the binding's store,
// ClientAuthIssuer) through the CertificateStores port. Which store that is, is decided
// portably (core/repair/diagnosis: binding_trust_of), so the repair and the diagnosis never
// disagree about it.

#include "core/model/certificate_stores.hpp"
#include "core/model/host_settings.hpp"
#include "core/model/host_trust.hpp"

namespace certheal::win {

class DiagnosedBindingTrust final : public BindingTrustSource {
public:
    // Both must outlive this object (the platform's Adapters hold all three).
    DiagnosedBindingTrust(HostTrustInspector& inspector, CertificateStores& stores) : inspector_(inspector), stores_(stores) {}

    bool available() const noexcept override { return inspector_.available() && stores_.available(); }
    Result<BindingTrust> binding_trust(const SiteConfig& site) override;

private:
    HostTrustInspector& inspector_;
    CertificateStores& stores_;
};

}  // namespace certheal::win
