#pragma once
// The host trust diagnosis: would Schannel accept certheal's client certificate on this IIS host,
// and if not, why? Windows decides client-certificate trust from
//   - the Schannel values ClientAuthTrustMode (0 machine trust, 1 exclusive root, 2 exclusive CA)
//     and SendTrustedIssuerList,
//   - the http.sys SSL binding a site's connections get (its Ctl Store Name, Ctl Identifier,
//     Negotiate Client Certificate, revocation checking, Disable TLS 1.3),
//   - the store Schannel takes the trusted issuers from: the binding's Ctl Store Name when that
//     store holds certificates, else ClientAuthIssuer when it holds some, else Root,
//   - and the chain crypt32 builds for the certificate (machine trust for mode 0; that store as
//     the only trust anchors for modes 1 and 2, where mode 2 also accepts an intermediate there).
//
// gather_host_trust() reads those facts through the ports (it blocks); everything else here is
// pure: facts in, a verdict and causes from the fixed list (TrustCause) out, each with a sentence
// and its fix. docs/diagnosis.md says what each cause means and how it is found.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/clock.hpp"
#include "core/model/certificate_stores.hpp"
#include "core/model/config_model.hpp"
#include "core/model/host_settings.hpp"
#include "core/model/host_trust.hpp"
#include "core/model/trust_cause.hpp"
#include "core/probe/client_identity_source.hpp"

namespace certheal {

// The most a trusted issuer list may weigh: past it Schannel cannot send the list and client
// authentication fails (KB 933430, KB 2880390).
inline constexpr std::size_t kMaxIssuerListBytes = std::size_t{16} * 1024;

// A certificate as the diagnosis needs it.
struct CertificateFacts {
    std::string subject;
    std::string issuer;
    std::string sha1;    // upper-case hex, as certlm.msc shows it
    std::string sha256;
    std::string not_after;
    bool self_signed = false;
    bool is_ca = false;
    std::size_t subject_name_bytes = 0;  // the DER subject name: what a trusted issuer list carries
    std::vector<std::string> crl_urls;   // CRL distribution points (URIs)
    std::vector<std::string> ocsp_urls;  // authority information access: OCSP
};

// Parsed from DER; nullopt when the bytes are not one certificate.
std::optional<CertificateFacts> certificate_facts(const DerCertificate& der);

struct StoreFacts {
    std::string name;  // "Root", "CA", "ClientAuthIssuer", a binding's Ctl Store Name
    std::vector<CertificateFacts> certificates;
    std::optional<std::string> error;  // the store could not be read
};

// The Schannel values as Windows reads them.
struct SchannelFacts {
    struct IgnoredValue {
        std::string name;   // as found, e.g. "SendTrusterIssuerList"
        std::string meant;  // the value Windows reads, e.g. "SendTrustedIssuerList"
        std::string why;    // "its name is misspelt" / "it is a REG_SZ, and Windows reads only a REG_DWORD"
    };
    std::uint32_t trust_mode = 0;
    bool trust_mode_set = false;  // false: the default (value absent or unreadable)
    bool send_issuer_list = false;
    bool send_issuer_list_set = false;
    std::vector<IgnoredValue> ignored_values;
    bool tls13_enabled = false;
    std::string tls13_why;  // "Protocols\TLS 1.3\Server\Enabled is 1", "the default of build 20348"
    std::uint32_t os_build = 0;
    std::optional<std::string> error;  // the registry could not be read: defaults assumed
};

SchannelFacts read_schannel(const SchannelRegistry& registry);

// The value Windows reads that `name` was probably meant to be (a misspelling of
// ClientAuthTrustMode or SendTrustedIssuerList); nullopt for the right names (any case) and for
// unrelated values.
std::optional<std::string> misspelling_of(const std::string& name);

// The binding http.sys uses for a site's connections: an IP:port binding for the very address
// first (it takes precedence over SNI), then hostname:port (SNI), then the central certificate
// store for the port, then the wildcard address 0.0.0.0 / [::] for the port.
struct BindingChoice {
    std::optional<SslBinding> binding;
    std::optional<SslBinding> shadowed_sni;  // the site's own SNI binding, when an IP binding wins over it
};
BindingChoice choose_binding(const std::vector<SslBinding>& bindings, const std::string& host, std::uint16_t port,
                             const std::vector<std::string>& addresses);

struct ChainFacts {
    std::uint32_t error_status = 0;  // CERT_TRUST_* error bits (chain_status)
    std::vector<CertificateFacts> certificates;  // leaf first
    std::optional<std::string> error;            // the chain could not be built at all
    bool trusted() const noexcept;               // built, and no trust error (revocation aside)
    bool revocation_unknown() const noexcept;    // revocation status unknown or offline
    std::vector<std::string> status_names() const;  // "untrusted_root", "partial_chain", ...
};

struct SiteTrustFacts {
    std::string site;
    std::string url;
    std::string host;
    std::uint16_t port = 443;
    std::vector<std::string> addresses;  // what the site's connections go to
    std::optional<SslBinding> binding;
    std::optional<SslBinding> shadowed_sni;
    std::string issuer_store;      // the store Schannel takes the trusted issuers from
    std::string issuer_store_why;  // a clause: "the binding's Ctl Store Name", ...
    bool issuer_store_from_binding = false;
    std::size_t issuer_list_names = 0;
    std::size_t issuer_list_bytes = 0;
    bool issuer_list_sent = false;
    std::optional<CertificateFacts> client_certificate;
    std::optional<std::string> client_certificate_problem;  // none configured, or unreadable
    std::optional<ChainFacts> machine_chain;    // the machine's trust (mode 0)
    std::optional<ChainFacts> exclusive_chain;  // the issuer store as the only trust anchors (modes 1, 2)
    bool requires_client_certificate = false;   // certheal presents one: the path asks for it
};

struct HostTrustFacts {
    TimePoint gathered_at{};
    SchannelFacts schannel;
    std::vector<SslBinding> bindings;
    std::vector<std::string> binding_notes;
    std::optional<std::string> bindings_error;
    std::vector<StoreFacts> stores;  // Root, CA, ClientAuthIssuer and every binding store named
    std::vector<SiteTrustFacts> sites;

    const StoreFacts* store(const std::string& name) const;  // by name, case-insensitive
};

// Reads the host (blocks: registry, http.sys, stores, chain building) for `sites`. Never fails as
// a whole: what could not be read is said in the facts. A client certificate of a store is
// selected through `identities`, as the prober selects it; without it, such a site's verdict
// is unknown.
HostTrustFacts gather_host_trust(HostTrustInspector& inspector, CertificateStores& stores,
                                 const std::vector<SiteConfig>& sites, TimePoint now,
                                 ClientIdentitySource* identities = nullptr);

// What trust_ca "store": "auto" needs of `site` (blocks): the trust mode and the store Schannel
// takes the trusted issuers from, read and decided as the diagnosis does, without building a
// chain. A Failure when the Schannel values, the bindings or a store that decides could not be
// read: certheal never guesses the store.
Result<BindingTrust> binding_trust_of(HostTrustInspector& inspector, CertificateStores& stores, const SiteConfig& site,
                                      TimePoint now);

// --- the decision ---------------------------------------------------------------------------

enum class TrustVerdict { accepted, rejected, unknown };
std::string_view to_string(TrustVerdict verdict) noexcept;

struct CauseFinding {
    TrustCause cause = TrustCause::none_found;
    std::string sentence;  // what is wrong on this host, with its names and numbers
    std::string fix;       // what to do about it
};

struct SiteDiagnosis {
    std::string site;
    TrustVerdict verdict = TrustVerdict::unknown;
    std::string verdict_reason;         // a sentence
    std::vector<CauseFinding> findings;  // most decisive first; empty: none_found
    TrustCause cause() const noexcept { return findings.empty() ? TrustCause::none_found : findings.front().cause; }
};

SiteDiagnosis diagnose_site(const HostTrustFacts& host, const SiteTrustFacts& site);

// The host's trust settings as one value, so that a farm node that drifted stands out: the
// trust mode, the issuer-list setting, the flags of the sites' bindings and a SHA-256 over the
// sorted thumbprints of Root, CA, ClientAuthIssuer and each binding's store.
struct HostTrustFingerprint {
    std::string value;    // SHA-256, lower-case hex
    nlohmann::json parts;  // what went into it
};
HostTrustFingerprint host_trust_fingerprint(const HostTrustFacts& facts);
// The names of the parts that differ ("trust_mode", "stores.Root", "bindings").
std::vector<std::string> changed_parts(const HostTrustFingerprint& before, const HostTrustFingerprint& after);

struct HostDiagnosis {
    HostTrustFacts facts;
    std::vector<SiteDiagnosis> sites;
    HostTrustFingerprint fingerprint;

    const SiteDiagnosis* site(const std::string& name) const;
    const SiteTrustFacts* site_facts(const std::string& name) const;
    bool any_cause() const noexcept;
};

HostDiagnosis diagnose_host(HostTrustFacts facts);

// --- as JSON --------------------------------------------------------------------------------

// The facts of one site with the host's Schannel values (diagnose --json "facts").
nlohmann::json site_facts_json(const HostTrustFacts& host, const SiteTrustFacts& site);
// One line of `certheal diagnose --json`: site, url, verdict, cause, causes, findings, facts,
// fingerprint.
nlohmann::json site_diagnosis_json(const HostDiagnosis& diagnosis, const SiteDiagnosis& site);
// What events carry: {"cause", "causes", "verdict", "trust_mode", "binding", "binding_store",
// "issuer_list_bytes", "fingerprint", "diagnosed_at"}.
nlohmann::json host_trust_evidence(const HostDiagnosis& diagnosis, const std::string& site);

}  // namespace certheal
