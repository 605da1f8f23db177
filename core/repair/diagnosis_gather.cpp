// Reading the host's trust for the diagnosis (blocks): the Schannel values, the http.sys
// bindings, the stores they name and the chains crypt32 builds for certheal's certificate. What
// cannot be read is said in the facts; nothing here fails the whole.
#include "core/repair/diagnosis.hpp"

#include <algorithm>
#include <map>
#include <memory>

#include "core/base/text.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/probe/tls_files.hpp"
#include "core/repair/diagnosis_support.hpp"
#include "core/model/certificate_stores.hpp"

namespace certheal {
namespace {

using diagnosis_detail::binding_shown;
using diagnosis_detail::hex_sha256;
using diagnosis_detail::same_text;

// Bounds on what the host hands over: far beyond any real store, and a limit on what a damaged
// registry or store can make certheal walk.
constexpr std::size_t kMaxCertificatesPerStore = 20000;
constexpr std::size_t kMaxChainLength = 16;
// Chain building with online revocation waits at most this long per URL.
constexpr std::chrono::milliseconds kDefaultUrlTimeout{5000};
constexpr std::chrono::milliseconds kLongestUrlTimeout{15000};

std::size_t issuer_list_bytes_of(const StoreFacts& store) {
    // Each name goes into the CertificateRequest as a two-byte length and the DER name.
    std::size_t bytes = 0;
    for (const auto& certificate : store.certificates) bytes += 2 + certificate.subject_name_bytes;
    return bytes;
}

ChainFacts chain_facts(const Result<BuiltChain>& built) {
    ChainFacts facts;
    if (!built) {
        facts.error = built.error().message;
        return facts;
    }
    facts.error_status = built.value().error_status;
    for (const auto& der : built.value().certificates) {
        if (facts.certificates.size() == kMaxChainLength) break;
        if (auto parsed = certificate_facts(der)) facts.certificates.push_back(std::move(*parsed));
    }
    if (facts.certificates.empty()) facts.error = "crypt32 returned no certificate for the chain";
    return facts;
}

// The certificate certheal presents for `client_cert`, with what it sends along: from its files,
// or from the store through `identities` (the same port the prober asks).
Result<SharedIdentity> presented_identity(const ClientCert& client_cert, ClientIdentitySource* identities) {
    if (const auto* in_store = std::get_if<StoreClientCert>(&client_cert)) {
        if (identities == nullptr || !identities->available()) {
            return Failure{std::make_error_code(std::errc::not_supported),
                           "its client certificate comes from " + local_machine_store(in_store->store) +
                               ", and this diagnosis was given no access to the certificate stores"};
        }
        return identities->select(*in_store);
    }
    auto loaded = load_client_identity(client_cert);
    if (!loaded) return loaded.error();
    return SharedIdentity(std::make_shared<const ClientIdentity>(std::move(loaded.value())));
}

// The Schannel values and the http.sys bindings, or why they could not be read.
void read_host_settings(HostTrustInspector& inspector, HostTrustFacts& facts) {
    if (auto registry = inspector.schannel()) {
        facts.schannel = read_schannel(registry.value());
    } else {
        facts.schannel.error = registry.error().message;
    }
    if (auto found = inspector.bindings()) {
        facts.bindings = std::move(found.value().bindings);
        facts.binding_notes = std::move(found.value().notes);
    } else {
        facts.bindings_error = found.error().message;
    }
}

// Where `site`'s connections go and the binding http.sys gives them.
SiteTrustFacts site_binding_facts(HostTrustInspector& inspector, const std::vector<SslBinding>& bindings,
                                  const SiteConfig& site) {
    SiteTrustFacts site_facts;
    site_facts.site = site.name;
    site_facts.url = site.url;
    site_facts.host = site.host;
    site_facts.port = site.port;
    const std::string& target = site.connect_to ? *site.connect_to : site.host;
    if (auto resolved = inspector.addresses_of(target)) site_facts.addresses = std::move(resolved.value());
    auto choice = choose_binding(bindings, site.host, site.port, site_facts.addresses);
    site_facts.binding = std::move(choice.binding);
    site_facts.shadowed_sni = std::move(choice.shadowed_sni);
    site_facts.requires_client_certificate = site.tls.client_cert.has_value();
    return site_facts;
}

// Root, CA, ClientAuthIssuer and each Ctl Store Name the sites' bindings give, once each.
std::vector<std::string> stores_to_read(const std::vector<SiteTrustFacts>& sites) {
    std::vector<std::string> store_names = {"Root", "CA", "ClientAuthIssuer"};
    for (const auto& site : sites) {
        if (site.binding && !site.binding->ctl_store_name.empty()) {
            const auto& name = site.binding->ctl_store_name;
            if (std::none_of(store_names.begin(), store_names.end(), [&](const std::string& n) { return same_text(n, name); })) {
                store_names.push_back(name);
            }
        }
    }
    return store_names;
}

StoreFacts read_store(CertificateStores& stores, const std::string& name) {
    StoreFacts store;
    store.name = name;
    if (auto listed = stores.list(name)) {
        for (const auto& der : listed.value()) {
            if (store.certificates.size() == kMaxCertificatesPerStore) break;
            if (auto certificate = certificate_facts(der)) store.certificates.push_back(std::move(*certificate));
        }
    } else {
        store.error = listed.error().message;
    }
    return store;
}

// The store Schannel takes the site's trusted issuers from, why, and the list it makes of it.
void choose_issuer_store(const HostTrustFacts& facts, SiteTrustFacts& site_facts) {
    const StoreFacts* binding_store =
        site_facts.binding && !site_facts.binding->ctl_store_name.empty() ? facts.store(site_facts.binding->ctl_store_name)
                                                                          : nullptr;
    const StoreFacts* client_auth_issuer = facts.store("ClientAuthIssuer");
    if (binding_store && !binding_store->certificates.empty()) {
        site_facts.issuer_store = binding_store->name;
        site_facts.issuer_store_why = "the Ctl Store Name of " + binding_shown(*site_facts.binding);
        site_facts.issuer_store_from_binding = true;
    } else if (client_auth_issuer && !client_auth_issuer->certificates.empty()) {
        site_facts.issuer_store = "ClientAuthIssuer";
        site_facts.issuer_store_why =
            binding_store ? "the binding's Ctl Store Name " + binding_store->name + " is empty, and ClientAuthIssuer holds certificates"
                          : "ClientAuthIssuer holds certificates and the binding names no Ctl Store";
    } else {
        site_facts.issuer_store = "Root";
        site_facts.issuer_store_why = "neither a binding store nor ClientAuthIssuer holds certificates";
    }
    if (const StoreFacts* issuers = facts.store(site_facts.issuer_store)) {
        site_facts.issuer_list_names = issuers->certificates.size();
        site_facts.issuer_list_bytes = issuer_list_bytes_of(*issuers);
    }
    site_facts.issuer_list_sent = facts.schannel.send_issuer_list;
}

// One chain per certificate, store and revocation setting, however many sites share them.
class ChainCache {
public:
    explicit ChainCache(HostTrustInspector& inspector) : inspector_(inspector) {}

    ChainFacts build(const ChainRequest& request) {
        const std::string key = hex_sha256(request.leaf) + "|" + request.exclusive_store.value_or("") + "|" +
                                (request.exclusive_accepts_ca ? "ca" : "") + "|" +
                                std::to_string(static_cast<int>(request.revocation));
        auto found = built_.find(key);
        if (found == built_.end()) found = built_.emplace(key, chain_facts(inspector_.build_chain(request))).first;
        return found->second;
    }

private:
    HostTrustInspector& inspector_;
    std::map<std::string, ChainFacts> built_;
};

// The chain request for certheal's certificate, checking revocation as the site's binding does.
ChainRequest chain_request_for(const ClientIdentity& identity, const std::optional<SslBinding>& binding) {
    ChainRequest request;
    request.leaf = to_der(*identity.certificate);
    for (const auto& intermediate : identity.chain) request.sent_intermediates.push_back(to_der(*intermediate));
    if (binding && binding->checks_revocation()) {
        request.revocation =
            binding->revocation_cache_only() ? ChainRequest::Revocation::cache_only : ChainRequest::Revocation::online;
        if (binding->revocation_url_retrieval_timeout > 0) {
            request.url_retrieval_timeout =
                std::min(std::chrono::milliseconds(binding->revocation_url_retrieval_timeout), kLongestUrlTimeout);
        } else {
            request.url_retrieval_timeout = kDefaultUrlTimeout;
        }
    }
    return request;
}

// certheal's client certificate for `site` and the chains Schannel would build for it: the
// machine's, and for trust modes 1 and 2 the one with the issuer store as the only anchors.
void read_client_chains(const SiteConfig& site, const SchannelFacts& schannel, ClientIdentitySource* identities,
                        ChainCache& chains, SiteTrustFacts& site_facts) {
    if (!site.tls.client_cert) {
        site_facts.client_certificate_problem =
            "no client certificate is configured for this site, so certheal has none to check";
        return;
    }
    auto identity = presented_identity(*site.tls.client_cert, identities);
    if (!identity) {
        site_facts.client_certificate_problem =
            "certheal could not read its client certificate: " + as_clause(identity.error().message);
        return;
    }
    ChainRequest request = chain_request_for(*identity.value(), site_facts.binding);
    site_facts.client_certificate = certificate_facts(request.leaf);
    site_facts.machine_chain = chains.build(request);
    if (schannel.trust_mode == 1 || schannel.trust_mode == 2) {
        request.exclusive_store = site_facts.issuer_store;
        request.exclusive_accepts_ca = schannel.trust_mode == 2;
        site_facts.exclusive_chain = chains.build(request);
    }
}

// The host's facts for `sites`; without `build_chains` only what decides the issuer store
// (Schannel, bindings, stores), for trust_ca "store": "auto".
HostTrustFacts gather(HostTrustInspector& inspector, CertificateStores& stores, const std::vector<SiteConfig>& sites,
                      TimePoint now, ClientIdentitySource* identities, bool build_chains) {
    HostTrustFacts facts;
    facts.gathered_at = now;
    read_host_settings(inspector, facts);
    // Each site's binding first: its Ctl Store Name says which stores to read.
    for (const auto& site : sites) facts.sites.push_back(site_binding_facts(inspector, facts.bindings, site));
    for (const auto& name : stores_to_read(facts.sites)) facts.stores.push_back(read_store(stores, name));

    ChainCache chains(inspector);
    for (std::size_t index = 0; index < sites.size(); ++index) {
        choose_issuer_store(facts, facts.sites[index]);
        if (build_chains) read_client_chains(sites[index], facts.schannel, identities, chains, facts.sites[index]);
    }
    return facts;
}

}  // namespace

HostTrustFacts gather_host_trust(HostTrustInspector& inspector, CertificateStores& stores,
                                 const std::vector<SiteConfig>& sites, TimePoint now, ClientIdentitySource* identities) {
    return gather(inspector, stores, sites, now, identities, true);
}

Result<BindingTrust> binding_trust_of(HostTrustInspector& inspector, CertificateStores& stores, const SiteConfig& site,
                                      TimePoint now) {
    const auto facts = gather(inspector, stores, {site}, now, nullptr, false);
    // A guess is worse than no answer here: a CA put into the wrong store "succeeds" and cures
    // nothing, so whatever decides the store must have been read.
    auto unread = [](const std::string& what, const std::string& why) {
        return Failure{std::make_error_code(std::errc::io_error),
                       "certheal could not read " + what + ": " + as_clause(why)};
    };
    if (facts.schannel.error) return unread("the Schannel settings under " + std::string(kSchannelKey), *facts.schannel.error);
    if (facts.bindings_error) return unread("the http.sys SSL bindings", *facts.bindings_error);
    const SiteTrustFacts& found = facts.sites.front();
    std::vector<std::string> deciding{"ClientAuthIssuer"};
    if (found.binding && !found.binding->ctl_store_name.empty()) deciding.push_back(found.binding->ctl_store_name);
    for (const auto& name : deciding) {
        const StoreFacts* store = facts.store(name);
        if (store != nullptr && store->error) return unread(local_machine_store(name), *store->error);
    }
    BindingTrust trust;
    trust.trust_mode = facts.schannel.trust_mode;
    trust.issuer_store = found.issuer_store;
    trust.issuer_store_why = found.issuer_store_why;
    trust.issuer_store_from_binding = found.issuer_store_from_binding;
    trust.binding = found.binding ? found.binding->endpoint : std::string();
    return trust;
}

}  // namespace certheal
