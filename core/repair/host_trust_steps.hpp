#pragma once
// The ladder's Windows trust steps, portable: they decide, the ports only read and write.
//
//   trust_ca with "store": "auto"  the store Schannel trusts for each affected site's binding
//                                  (choose_trust_stores says which and why, per certificate);
//   add_intermediates              the intermediate CA certificates of a file into LocalMachine\CA;
//   set_schannel                   ClientAuthTrustMode / SendTrustedIssuerList, keeping what it
//                                  found so that an admin can undo it.
//
// Every function reads stores, files or the registry and blocks: call them from the WorkerPool
// or the command line. `apply = false` only looks (dry run) and changes nothing.

#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/base/result.hpp"
#include "core/model/certificate_stores.hpp"
#include "core/model/config_model.hpp"
#include "core/model/host_settings.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/repair/certificate_trust.hpp"

namespace certheal {

// --- trust_ca "store": "auto" ----------------------------------------------------------------

// One store a CA certificate goes to, and why (a sentence fragment naming the trust mode and
// the store's origin).
struct StorePlacement {
    std::string store;
    std::string why;
};

// Where a CA certificate must be for Schannel to trust client certificates through it:
//   ClientAuthTrustMode 2 (exclusive CA trust): the store of trusted issuers, for a root and for
//     an intermediate alike (either is a trust anchor there); an intermediate never goes to Root
//     (KB 2802568), it goes to CA when that store is Root.
//   ClientAuthTrustMode 1 (exclusive root trust): a root into the store of trusted issuers; an
//     intermediate into CA, where Windows finds it to build the chain (in the store of trusted
//     issuers it would be no anchor, and a certificate that is not self-signed there breaks it).
//   ClientAuthTrustMode 0 (machine trust): a root into Root, an intermediate into CA; when the
//     binding names a Ctl Store that lists the trusted issuers, a root goes there too.
std::vector<StorePlacement> choose_trust_stores(const BindingTrust& binding, bool self_signed);

// What trust_ca auto decided for one site.
struct SiteStoreChoice {
    std::string site;
    BindingTrust binding;
    struct Placement {
        CertificateSummary certificate;
        StorePlacement placement;
    };
    std::vector<Placement> placements;
};

struct AutoTrustReport {
    std::vector<SiteStoreChoice> sites;
    std::vector<TrustCaReport> stores;  // one per store, in the order first chosen
    bool changed = false;
};

Result<AutoTrustReport> trust_ca_auto(const TrustCaStep& step, const std::vector<SiteConfig>& sites,
                                      BindingTrustSource* source, CertificateStores& stores, bool apply);

// --- add_intermediates ------------------------------------------------------------------------

struct IntermediatesReport {
    std::string file;                           // the certificate file, as configured
    TrustCaReport store;                        // LocalMachine\CA: added (or would add) and already there
    std::vector<CertificateSummary> not_added;  // self-signed or not a CA: not for CA
};

Result<IntermediatesReport> add_intermediates(const AddIntermediatesStep& step, CertificateStores& stores, bool apply);

// --- set_schannel ------------------------------------------------------------------------------

struct SchannelValueChange {
    std::string name;       // "ClientAuthTrustMode"
    RegistryDword before;   // as found
    std::uint32_t wanted = 0;
    bool changed = false;   // written (with apply = false: would be written)
    std::optional<RegistryDword> after;  // read back after writing
    std::string undo;       // a sentence: how an admin puts it back
};

struct SchannelReport {
    std::vector<SchannelValueChange> values;
    bool changed = false;
};

Result<SchannelReport> set_schannel(const SetSchannelStep& step, SchannelSettings& settings, bool apply);

// "absent", "0", "REG_SZ (Windows ignores it)".
std::string registry_value_text(const RegistryDword& value);

// --- what the step events say --------------------------------------------------------------

// Certificates in a step event's details: subject, issuer, SHA-1, SHA-256, not_after of each.
nlohmann::json certificates_json(const std::vector<CertificateSummary>& certificates);
// Certificates in a step's sentence: "CN=Lab CA (SHA-1 ab12...) and CN=Other (SHA-1 cd34...)".
std::string certificates_text(const std::vector<CertificateSummary>& certificates);

// A step's event: its sentence (what it did), its dry-run clause (what it would do: "would add
// ..."), and its detail fields (docs/events.md).
struct StepStory {
    std::string summary;
    std::string would;
    nlohmann::json details = nlohmann::json::object();
};
StepStory story_of(const AutoTrustReport& report, bool dry_run);
StepStory story_of(const IntermediatesReport& report, bool dry_run);
StepStory story_of(const SchannelReport& report, bool dry_run);

}  // namespace certheal
