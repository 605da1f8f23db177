#include "core/repair/diagnosis.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <memory>
#include <set>

#include <cstdio>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/probe/tls_files.hpp"

namespace certheal {
namespace {

// Bounds on what the host hands over: far beyond any real store, and a limit on what a damaged
// registry or store can make certheal walk.
constexpr std::size_t kMaxCertificatesPerStore = 20000;
constexpr std::size_t kMaxUrlsPerCertificate = 16;
constexpr std::size_t kMaxChainLength = 16;
constexpr std::size_t kLongestValueNameCompared = 64;
// Chain building with online revocation waits at most this long per URL.
constexpr std::chrono::milliseconds kDefaultUrlTimeout{5000};
constexpr std::chrono::milliseconds kLongestUrlTimeout{15000};
// The Windows builds whose defaults differ: Server 2012 turned the issuer list off by default
// (and, unpatched, failed with an oversized list whatever the setting, KB 2880390); Server 2022
// turned TLS 1.3 on.
constexpr std::uint32_t kBuildServer2012 = 9200;
constexpr std::uint32_t kBuildServer2022 = 20348;

constexpr std::string_view kTrustModeValue = "ClientAuthTrustMode";
constexpr std::string_view kSendIssuerListValue = "SendTrustedIssuerList";

// The order in which causes explain a rejection: what breaks every client certificate on the
// host first, then what this site's binding does, then this certificate's chain, then what
// breaks only some clients.
constexpr std::array<TrustCause, 11> kPrecedence{
    TrustCause::issuer_list_too_large,   TrustCause::root_store_misplaced,
    TrustCause::binding_store_misplaced, TrustCause::schannel_value_misspelt,
    TrustCause::ip_binding_shadows_sni,  TrustCause::ctl_identifier_leftover,
    TrustCause::intermediate_missing,    TrustCause::issuer_missing_from_binding_store,
    TrustCause::ca_not_trusted,          TrustCause::revocation_check_online,
    TrustCause::tls13_without_negotiation,
};

std::string lower(std::string_view text) {
    std::string result(text);
    for (auto& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return result;
}

bool same_text(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

// Optimal string alignment distance (Levenshtein with transpositions), on short names only.
std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

std::string hex_sha256(std::string_view bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) return {};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text;
    for (unsigned int index = 0; index < length; ++index) {
        text += kHex[digest[index] >> 4];
        text += kHex[digest[index] & 0x0F];
    }
    return text;
}

std::string store_shown(const std::string& store) { return "LocalMachine\\" + store; }

std::string binding_shown(const SslBinding& binding) {
    switch (binding.kind) {
        case SslBinding::Kind::hostname_port: return "the SNI binding " + binding.endpoint;
        case SslBinding::Kind::central_store: return "the central certificate store binding " + binding.endpoint;
        case SslBinding::Kind::ip_port: break;
    }
    return "the IP binding " + binding.endpoint;
}

std::string revocation_name(const SslBinding& binding) {
    if (!binding.checks_revocation()) return "off";
    return binding.revocation_cache_only() ? "cached_only" : "online";
}

std::string mode_name(std::uint32_t mode) {
    switch (mode) {
        case 0: return "0 (machine trust)";
        case 1: return "1 (exclusive root trust)";
        case 2: return "2 (exclusive CA trust)";
        default: return std::to_string(mode);
    }
}

std::string plain_address(std::string address) {
    if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
        address = address.substr(1, address.size() - 2);
    }
    return lower(address);
}

bool is_ipv6(const std::string& address) { return address.find(':') != std::string::npos; }

std::size_t issuer_list_bytes_of(const StoreFacts& store) {
    // Each name goes into the CertificateRequest as a two-byte length and the DER name.
    std::size_t bytes = 0;
    for (const auto& certificate : store.certificates) bytes += 2 + certificate.subject_name_bytes;
    return bytes;
}

std::vector<const CertificateFacts*> not_self_signed(const StoreFacts* store) {
    std::vector<const CertificateFacts*> found;
    if (store == nullptr) return found;
    for (const auto& certificate : store->certificates) {
        if (!certificate.self_signed) found.push_back(&certificate);
    }
    return found;
}

std::string certificates_clause(const std::vector<const CertificateFacts*>& certificates) {
    std::vector<std::string> names;
    for (const auto* certificate : certificates) {
        if (names.size() == 3) {
            names.push_back(std::to_string(certificates.size() - 3) + " more");
            break;
        }
        names.push_back(certificate->subject + " (issued by " + certificate->issuer + ", SHA-1 " + certificate->sha1 +
                        ")");
    }
    return list_text(names);
}

bool holds(const StoreFacts* store, const std::string& sha1) {
    if (store == nullptr) return false;
    return std::any_of(store->certificates.begin(), store->certificates.end(),
                       [&](const CertificateFacts& certificate) { return certificate.sha1 == sha1; });
}

// An issuer of the leaf (any certificate above it in the chain) held in `store`.
const CertificateFacts* issuer_held_in(const ChainFacts* chain, const StoreFacts* store) {
    if (chain == nullptr) return nullptr;
    for (std::size_t index = 1; index < chain->certificates.size(); ++index) {
        if (holds(store, chain->certificates[index].sha1)) return &chain->certificates[index];
    }
    return nullptr;
}

// A self-signed certificate named `subject` in one of the stores read that the machine's chain
// engine does not search (it searches Root and CA), and which store.
const CertificateFacts* self_signed_named(const HostTrustFacts& host, const std::string& subject, std::string& store) {
    for (const auto& facts : host.stores) {
        if (same_text(facts.name, "Root") || same_text(facts.name, "CA")) continue;
        for (const auto& certificate : facts.certificates) {
            if (certificate.self_signed && certificate.subject == subject) {
                store = facts.name;
                return &certificate;
            }
        }
    }
    return nullptr;
}

// The certificate whose issuer could not be found: the last one of a partial chain.
const CertificateFacts* chain_end(const ChainFacts* chain) {
    if (chain == nullptr || chain->certificates.empty()) return nullptr;
    return &chain->certificates.back();
}

std::vector<std::string> string_stack(STACK_OF(OPENSSL_STRING) * stack) {
    std::vector<std::string> values;
    if (stack == nullptr) return values;
    const int count = sk_OPENSSL_STRING_num(stack);
    for (int index = 0; index < count && values.size() < kMaxUrlsPerCertificate; ++index) {
        if (const char* text = sk_OPENSSL_STRING_value(stack, index)) values.emplace_back(text);
    }
    return values;
}

std::vector<std::string> crl_urls_of(X509* certificate) {
    std::vector<std::string> urls;
    auto* points = static_cast<STACK_OF(DIST_POINT)*>(
        X509_get_ext_d2i(certificate, NID_crl_distribution_points, nullptr, nullptr));
    if (points == nullptr) return urls;
    for (int index = 0; index < sk_DIST_POINT_num(points) && urls.size() < kMaxUrlsPerCertificate; ++index) {
        const DIST_POINT* point = sk_DIST_POINT_value(points, index);
        if (point == nullptr || point->distpoint == nullptr || point->distpoint->type != 0) continue;
        const GENERAL_NAMES* names = point->distpoint->name.fullname;
        for (int name = 0; name < sk_GENERAL_NAME_num(names) && urls.size() < kMaxUrlsPerCertificate; ++name) {
            const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names, name);
            if (entry == nullptr || entry->type != GEN_URI) continue;
            const ASN1_IA5STRING* uri = entry->d.uniformResourceIdentifier;
            urls.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                              static_cast<std::size_t>(ASN1_STRING_length(uri)));
        }
    }
    sk_DIST_POINT_pop_free(points, DIST_POINT_free);
    return urls;
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

nlohmann::json binding_json(const SslBinding& binding) {
    auto text_or_null = [](const std::string& text) { return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text); };
    return {{"kind", binding.kind_name()},
            {"endpoint", binding.endpoint},
            {"source", binding.source},
            {"certificate_hash", text_or_null(binding.certificate_hash)},
            {"certificate_store", text_or_null(binding.certificate_store)},
            {"ctl_store_name", text_or_null(binding.ctl_store_name)},
            {"ctl_identifier", text_or_null(binding.ctl_identifier)},
            {"negotiate_client_certificate", binding.negotiates_client_certificate()},
            {"revocation", revocation_name(binding)},
            {"disable_tls13", binding.disables_tls13()},
            {"flags", binding.flags},
            {"cert_check_mode", binding.cert_check_mode}};
}

nlohmann::json certificate_json(const CertificateFacts& certificate) {
    return {{"subject", certificate.subject},
            {"issuer", certificate.issuer},
            {"sha1", certificate.sha1},
            {"not_after", certificate.not_after},
            {"self_signed", certificate.self_signed}};
}

nlohmann::json chain_json(const std::optional<ChainFacts>& chain) {
    if (!chain) return nullptr;
    nlohmann::json certificates = nlohmann::json::array();
    for (const auto& certificate : chain->certificates) {
        certificates.push_back({{"subject", certificate.subject}, {"sha1", certificate.sha1}});
    }
    nlohmann::json json = {{"trusted", chain->trusted()},
                           {"status", chain->status_names()},
                           {"certificates", certificates}};
    if (chain->error) json["error"] = *chain->error;
    return json;
}

}  // namespace

// --- facts ----------------------------------------------------------------------------------

std::optional<CertificateFacts> certificate_facts(const DerCertificate& der) {
    auto certificate = from_der(der);
    if (!certificate) return std::nullopt;
    CertificateFacts facts;
    X509* x509 = certificate.get();
    facts.subject = subject_text(*x509);
    facts.issuer = issuer_text(*x509);
    facts.sha1 = sha1_thumbprint(*x509);
    facts.sha256 = sha256_thumbprint(*x509);
    facts.not_after = asn1_time_text(X509_get0_notAfter(x509));
    facts.self_signed = is_self_signed(*x509);
    facts.is_ca = X509_check_ca(x509) > 0;
    const int name_bytes = i2d_X509_NAME(X509_get_subject_name(x509), nullptr);
    facts.subject_name_bytes = name_bytes > 0 ? static_cast<std::size_t>(name_bytes) : 0;
    facts.crl_urls = crl_urls_of(x509);
    STACK_OF(OPENSSL_STRING)* ocsp = X509_get1_ocsp(x509);
    facts.ocsp_urls = string_stack(ocsp);
    X509_email_free(ocsp);
    ERR_clear_error();
    return facts;
}

std::optional<std::string> misspelling_of(const std::string& name) {
    if (name.empty() || name.size() > kLongestValueNameCompared) return std::nullopt;
    const std::string seen = lower(name);
    for (const auto meant : {kTrustModeValue, kSendIssuerListValue}) {
        if (seen == lower(meant)) return std::nullopt;
    }
    for (const auto meant : {kTrustModeValue, kSendIssuerListValue}) {
        const std::size_t allowed = std::max<std::size_t>(2, meant.size() / 5);
        if (edit_distance(seen, lower(meant)) <= allowed) return std::string(meant);
    }
    return std::nullopt;
}

SchannelFacts read_schannel(const SchannelRegistry& registry) {
    SchannelFacts facts;
    facts.os_build = registry.os_build;
    for (const auto& value : registry.values) {
        const bool is_mode = same_text(value.name, kTrustModeValue);
        const bool is_list = same_text(value.name, kSendIssuerListValue);
        if (is_mode || is_list) {
            if (value.type != "REG_DWORD" || !value.number) {
                facts.ignored_values.push_back(
                    {value.name, std::string(is_mode ? kTrustModeValue : kSendIssuerListValue),
                     "it is a " + value.type + ", and Windows reads it only as a REG_DWORD"});
            } else if (is_mode && *value.number > 2) {
                facts.ignored_values.push_back({value.name, std::string(kTrustModeValue),
                                                "it is " + std::to_string(*value.number) +
                                                    ", and only 0, 1 and 2 are trust modes"});
            } else if (is_mode) {
                facts.trust_mode = *value.number;
                facts.trust_mode_set = true;
            } else {
                facts.send_issuer_list = *value.number != 0;
                facts.send_issuer_list_set = true;
            }
            continue;
        }
        if (auto meant = misspelling_of(value.name)) {
            facts.ignored_values.push_back({value.name, *meant, "its name is misspelt"});
        }
    }
    if (!facts.send_issuer_list_set) {
        facts.send_issuer_list = registry.os_build != 0 && registry.os_build < kBuildServer2012;
    }
    if (registry.tls13_server_disabled_by_default && *registry.tls13_server_disabled_by_default != 0) {
        facts.tls13_enabled = false;
        facts.tls13_why = "Protocols\\TLS 1.3\\Server\\DisabledByDefault is " +
                          std::to_string(*registry.tls13_server_disabled_by_default);
    } else if (registry.tls13_server_enabled) {
        facts.tls13_enabled = *registry.tls13_server_enabled != 0;
        facts.tls13_why = "Protocols\\TLS 1.3\\Server\\Enabled is " + std::to_string(*registry.tls13_server_enabled);
    } else {
        facts.tls13_enabled = registry.os_build >= kBuildServer2022;
        facts.tls13_why = "Windows build " + std::to_string(registry.os_build) +
                          "'s default; on by default from Windows Server 2022, build 20348";
    }
    return facts;
}

BindingChoice choose_binding(const std::vector<SslBinding>& bindings, const std::string& host, std::uint16_t port,
                             const std::vector<std::string>& addresses) {
    BindingChoice choice;
    const SslBinding* exact_ip = nullptr;
    const SslBinding* sni = nullptr;
    const SslBinding* central = nullptr;
    const SslBinding* wildcard4 = nullptr;
    const SslBinding* wildcard6 = nullptr;
    for (const auto& binding : bindings) {
        if (binding.port != port) continue;
        switch (binding.kind) {
            case SslBinding::Kind::ip_port: {
                const std::string address = plain_address(binding.address);
                if (address == "0.0.0.0") {
                    wildcard4 = wildcard4 ? wildcard4 : &binding;
                } else if (address == "::") {
                    wildcard6 = wildcard6 ? wildcard6 : &binding;
                } else if (!exact_ip && std::any_of(addresses.begin(), addresses.end(), [&](const std::string& a) {
                               return plain_address(a) == address;
                           })) {
                    exact_ip = &binding;
                }
                break;
            }
            case SslBinding::Kind::hostname_port:
                if (!sni && same_text(binding.address, host)) sni = &binding;
                break;
            case SslBinding::Kind::central_store:
                central = central ? central : &binding;
                break;
        }
    }
    if (exact_ip) {
        choice.binding = *exact_ip;
        if (sni) choice.shadowed_sni = *sni;
        return choice;
    }
    if (sni) {
        choice.binding = *sni;
        return choice;
    }
    if (central) {
        choice.binding = *central;
        return choice;
    }
    const bool ipv6_only = !addresses.empty() && std::all_of(addresses.begin(), addresses.end(), is_ipv6);
    const SslBinding* wildcard = ipv6_only ? (wildcard6 ? wildcard6 : wildcard4) : (wildcard4 ? wildcard4 : wildcard6);
    if (wildcard) choice.binding = *wildcard;
    return choice;
}

bool ChainFacts::trusted() const noexcept {
    // Revocation is judged apart (revocation_check_online); "not time nested" is not checked by
    // Windows' policy either.
    constexpr std::uint32_t kNotTrustErrors =
        chain_status::revocation_status_unknown | chain_status::offline_revocation | 0x00000002;
    return !error && !certificates.empty() && (error_status & ~kNotTrustErrors) == 0;
}

bool ChainFacts::revocation_unknown() const noexcept {
    return (error_status & (chain_status::revocation_status_unknown | chain_status::offline_revocation)) != 0;
}

std::vector<std::string> ChainFacts::status_names() const {
    static const std::array<std::pair<std::uint32_t, const char*>, 8> kNames{{
        {chain_status::not_time_valid, "not_time_valid"},
        {chain_status::revoked, "revoked"},
        {chain_status::not_signature_valid, "not_signature_valid"},
        {chain_status::not_valid_for_usage, "not_valid_for_usage"},
        {chain_status::untrusted_root, "untrusted_root"},
        {chain_status::revocation_status_unknown, "revocation_status_unknown"},
        {chain_status::partial_chain, "partial_chain"},
        {chain_status::offline_revocation, "offline_revocation"},
    }};
    std::vector<std::string> names;
    std::uint32_t rest = error_status;
    for (const auto& [bit, name] : kNames) {
        if ((error_status & bit) != 0) names.emplace_back(name);
        rest &= ~bit;
    }
    if (rest != 0) {
        char text[16];
        std::snprintf(text, sizeof text, "0x%08X", rest);
        names.emplace_back(text);
    }
    return names;
}

const StoreFacts* HostTrustFacts::store(const std::string& name) const {
    for (const auto& facts : stores) {
        if (same_text(facts.name, name)) return &facts;
    }
    return nullptr;
}

namespace {

// The certificate certheal presents for `client_cert`, with what it sends along: from its files,
// or from the store through `identities` (the same port the prober asks).
Result<SharedIdentity> presented_identity(const ClientCert& client_cert, ClientIdentitySource* identities) {
    if (const auto* in_store = std::get_if<StoreClientCert>(&client_cert)) {
        if (identities == nullptr || !identities->available()) {
            return Failure{std::make_error_code(std::errc::not_supported),
                           "its client certificate comes from LocalMachine\\" + in_store->store +
                               ", and this diagnosis was given no access to the certificate stores"};
        }
        return identities->select(*in_store);
    }
    auto loaded = load_client_identity(client_cert);
    if (!loaded) return loaded.error();
    return SharedIdentity(std::make_shared<const ClientIdentity>(std::move(loaded.value())));
}

// The host's facts for `sites`; without `build_chains` only what decides the issuer store
// (Schannel, bindings, stores), for trust_ca "store": "auto".
HostTrustFacts gather(HostTrustInspector& inspector, CertificateStores& stores, const std::vector<SiteConfig>& sites,
                      TimePoint now, ClientIdentitySource* identities, bool build_chains) {
    HostTrustFacts facts;
    facts.gathered_at = now;
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

    // Each site's binding first: its Ctl Store Name says which stores to read.
    for (const auto& site : sites) {
        SiteTrustFacts site_facts;
        site_facts.site = site.name;
        site_facts.url = site.url;
        site_facts.host = site.host;
        site_facts.port = site.port;
        const std::string& target = site.connect_to ? *site.connect_to : site.host;
        if (auto resolved = inspector.addresses_of(target)) site_facts.addresses = std::move(resolved.value());
        auto choice = choose_binding(facts.bindings, site.host, site.port, site_facts.addresses);
        site_facts.binding = std::move(choice.binding);
        site_facts.shadowed_sni = std::move(choice.shadowed_sni);
        site_facts.requires_client_certificate = site.tls.client_cert.has_value();
        facts.sites.push_back(std::move(site_facts));
    }

    std::vector<std::string> store_names = {"Root", "CA", "ClientAuthIssuer"};
    for (const auto& site : facts.sites) {
        if (site.binding && !site.binding->ctl_store_name.empty()) {
            const auto& name = site.binding->ctl_store_name;
            if (std::none_of(store_names.begin(), store_names.end(), [&](const std::string& n) { return same_text(n, name); })) {
                store_names.push_back(name);
            }
        }
    }
    for (const auto& name : store_names) {
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
        facts.stores.push_back(std::move(store));
    }

    // One chain per certificate, store and revocation setting, however many sites share them.
    std::map<std::string, ChainFacts> built;
    auto build = [&](const ChainRequest& request) {
        const std::string key = hex_sha256(request.leaf) + "|" + request.exclusive_store.value_or("") + "|" +
                                (request.exclusive_accepts_ca ? "ca" : "") + "|" +
                                std::to_string(static_cast<int>(request.revocation));
        auto found = built.find(key);
        if (found == built.end()) found = built.emplace(key, chain_facts(inspector.build_chain(request))).first;
        return found->second;
    };

    const auto& schannel = facts.schannel;
    for (std::size_t index = 0; index < sites.size(); ++index) {
        const auto& site = sites[index];
        auto& site_facts = facts.sites[index];
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
        site_facts.issuer_list_sent = schannel.send_issuer_list;

        if (!build_chains) continue;
        if (!site.tls.client_cert) {
            site_facts.client_certificate_problem =
                "no client certificate is configured for this site, so certheal has none to check";
            continue;
        }
        auto identity = presented_identity(*site.tls.client_cert, identities);
        if (!identity) {
            site_facts.client_certificate_problem = "certheal could not read its client certificate: " +
                                                    as_clause(identity.error().message);
            continue;
        }
        ChainRequest request;
        request.leaf = to_der(*identity.value()->certificate);
        for (const auto& intermediate : identity.value()->chain) request.sent_intermediates.push_back(to_der(*intermediate));
        site_facts.client_certificate = certificate_facts(request.leaf);
        if (const auto& binding = site_facts.binding; binding && binding->checks_revocation()) {
            request.revocation =
                binding->revocation_cache_only() ? ChainRequest::Revocation::cache_only : ChainRequest::Revocation::online;
            if (binding->revocation_url_retrieval_timeout > 0) {
                request.url_retrieval_timeout = std::min(
                    std::chrono::milliseconds(binding->revocation_url_retrieval_timeout), kLongestUrlTimeout);
            } else {
                request.url_retrieval_timeout = kDefaultUrlTimeout;
            }
        }
        site_facts.machine_chain = build(request);
        if (schannel.trust_mode == 1 || schannel.trust_mode == 2) {
            request.exclusive_store = site_facts.issuer_store;
            request.exclusive_accepts_ca = schannel.trust_mode == 2;
            site_facts.exclusive_chain = build(request);
        }
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
        if (store != nullptr && store->error) return unread("LocalMachine\\" + name, *store->error);
    }
    BindingTrust trust;
    trust.trust_mode = facts.schannel.trust_mode;
    trust.issuer_store = found.issuer_store;
    trust.issuer_store_why = found.issuer_store_why;
    trust.issuer_store_from_binding = found.issuer_store_from_binding;
    trust.binding = found.binding ? found.binding->endpoint : std::string();
    return trust;
}

// --- the decision ---------------------------------------------------------------------------

std::string_view to_string(TrustVerdict verdict) noexcept {
    switch (verdict) {
        case TrustVerdict::accepted: return "accepted";
        case TrustVerdict::rejected: return "rejected";
        case TrustVerdict::unknown: return "unknown";
    }
    return "unknown";
}

SiteDiagnosis diagnose_site(const HostTrustFacts& host, const SiteTrustFacts& site) {
    SiteDiagnosis diagnosis;
    diagnosis.site = site.site;
    const auto& schannel = host.schannel;
    const std::uint32_t mode = schannel.trust_mode;
    const StoreFacts* issuer_store = host.store(site.issuer_store);
    const std::string issuers = store_shown(site.issuer_store);
    bool rejected = false;
    std::vector<std::string> reasons;
    auto add = [&](TrustCause cause, std::string sentence, std::string fix) {
        diagnosis.findings.push_back({cause, as_sentence(std::move(sentence)), as_sentence(std::move(fix))});
    };

    // Every client certificate on the host.
    const bool list_weighs = site.issuer_list_sent || schannel.os_build == kBuildServer2012;
    if (site.issuer_list_bytes > kMaxIssuerListBytes && list_weighs) {
        rejected = true;
        add(TrustCause::issuer_list_too_large,
            "The trusted issuer list Schannel builds from " + issuers + " (" + site.issuer_store_why + ") is " +
                std::to_string(site.issuer_list_bytes) + " bytes for " + std::to_string(site.issuer_list_names) +
                " names, over the 16384 bytes Schannel can send, so client certificate authentication fails " +
                (site.issuer_list_sent ? "(SendTrustedIssuerList is on)"
                                       : "on Windows Server 2012 whatever SendTrustedIssuerList says (KB 2880390)"),
            "Remove the CAs that clients do not need from " + issuers +
                ", give the binding a Ctl Store Name that holds only the client CAs, or set SendTrustedIssuerList to 0");
    }
    if (mode != 2) {
        if (auto misplaced = not_self_signed(host.store("Root")); !misplaced.empty()) {
            rejected = true;
            add(TrustCause::root_store_misplaced,
                "LocalMachine\\Root holds " + std::to_string(misplaced.size()) +
                    " certificate(s) that are not self-signed: " + certificates_clause(misplaced) +
                    "; with ClientAuthTrustMode " + mode_name(mode) +
                    " Schannel then rejects client certificates (HTTP 403.16, KB 2802568)",
                "Move them to LocalMachine\\CA (a fix_root_store step does it), or set ClientAuthTrustMode to 2");
        }
        if (!same_text(site.issuer_store, "Root")) {
            if (auto misplaced = not_self_signed(issuer_store); !misplaced.empty()) {
                rejected = true;
                add(TrustCause::binding_store_misplaced,
                    issuers + ", the store Schannel takes the trusted issuers from (" + site.issuer_store_why +
                        "), holds " + std::to_string(misplaced.size()) + " certificate(s) that are not self-signed: " +
                        certificates_clause(misplaced) + "; with ClientAuthTrustMode " + mode_name(mode) +
                        " Schannel then rejects client certificates",
                    "Move them to LocalMachine\\CA, or set ClientAuthTrustMode to 2 (exclusive CA trust), which accepts "
                    "an intermediate CA in " + issuers);
            }
        }
    }
    for (const auto& ignored : schannel.ignored_values) {
        const bool about_mode = ignored.meant == kTrustModeValue;
        add(TrustCause::schannel_value_misspelt,
            "Windows ignores the Schannel value " + ignored.name + " because " + ignored.why + ", so " + ignored.meant +
                " is " +
                (about_mode ? std::to_string(mode) + (schannel.trust_mode_set ? "" : " (the default)")
                            : std::string(schannel.send_issuer_list ? "on" : "off") +
                                  (schannel.send_issuer_list_set ? "" : " (the default)")) +
                " on this host",
            "Under HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL, delete " + ignored.name +
                " and set the REG_DWORD " + ignored.meant + " to the value you meant");
    }

    // This site's binding.
    if (site.binding && site.shadowed_sni) {
        add(TrustCause::ip_binding_shadows_sni,
            "http.sys answers connections to " + site.binding->endpoint + " with " + binding_shown(*site.binding) +
                ", which takes precedence over " + binding_shown(*site.shadowed_sni) +
                " made for this site, so that binding's settings (Ctl Store Name " +
                (site.shadowed_sni->ctl_store_name.empty() ? std::string("none") : site.shadowed_sni->ctl_store_name) +
                ", Negotiate Client Certificate " + (site.shadowed_sni->negotiates_client_certificate() ? "on" : "off") +
                ") are not used",
            "Delete the IP binding (netsh http delete sslcert ipport=" + site.binding->endpoint +
                ") if no other site needs it, or give it the same client-certificate settings");
    }
    if (site.binding && !site.binding->ctl_identifier.empty()) {
        rejected = true;
        add(TrustCause::ctl_identifier_leftover,
            binding_shown(*site.binding) + " names the certificate trust list \"" + site.binding->ctl_identifier +
                "\"" + (site.binding->ctl_store_name.empty() ? "" : " in " + store_shown(site.binding->ctl_store_name)) +
                ", a leftover of IIS 6-style CTLs: http.sys then accepts only the issuers that list names",
            "Recreate the binding without sslctlidentifier (netsh http delete sslcert, then netsh http add sslcert with "
            "the same certhash and appid) and keep the trusted issuers in its Ctl Store Name instead");
    }

    // This certificate's chain, the way Schannel builds it for the trust mode.
    const ChainFacts* machine = site.machine_chain ? &*site.machine_chain : nullptr;
    const ChainFacts* exclusive = site.exclusive_chain ? &*site.exclusive_chain : nullptr;
    const ChainFacts* decisive = (mode == 1 || mode == 2) ? exclusive : machine;
    bool chain_known = false;
    if (!site.client_certificate) {
        reasons.push_back(site.client_certificate_problem.value_or("certheal has no client certificate to check"));
    } else if (machine == nullptr || machine->error || (decisive != nullptr && decisive->error)) {
        const ChainFacts* failed = machine && machine->error ? machine : decisive;
        reasons.push_back("crypt32 could not build the chain of certheal's certificate: " +
                          as_clause(failed && failed->error ? *failed->error : std::string("no chain was built")));
    } else {
        chain_known = true;
        const auto& leaf = *site.client_certificate;
        // A chain that stops short: crypt32 found no certificate for the last issuer in the stores
        // it searches (Root, CA, My, Trust and what certheal sends). A self-signed certificate of
        // that name in another store (ClientAuthIssuer) is a root the machine does not trust;
        // anything else is a missing intermediate.
        const bool partial = (machine->error_status & chain_status::partial_chain) != 0;
        const CertificateFacts* last = chain_end(machine);
        const std::string missing = last ? last->issuer : leaf.issuer;
        std::string root_held_in;
        const CertificateFacts* root_elsewhere = partial ? self_signed_named(host, missing, root_held_in) : nullptr;
        const bool exclusive_mode = mode == 1 || mode == 2;
        auto add_intermediate_missing = [&] {
            rejected = true;
            add(TrustCause::intermediate_missing,
                "The chain of certheal's certificate " + leaf.subject + " stops at " +
                    (last ? last->subject : leaf.subject) + ": its issuer " + missing +
                    " is neither sent by certheal nor in a store where Windows looks for CAs, so Schannel cannot "
                    "build the chain (0x800B010A CERT_E_CHAINING)",
                "Add the CA certificate " + missing +
                    " to LocalMachine\\CA if it is an intermediate (an add_intermediates step does it) or to "
                    "LocalMachine\\Root if it is the root, or give certheal's client_cert its chain (a PFX or PEM "
                    "that holds the intermediate)");
        };
        if (!exclusive_mode && partial && root_elsewhere == nullptr) {
            add_intermediate_missing();
        } else if (exclusive_mode) {
            const CertificateFacts* anchor = issuer_held_in(exclusive, issuer_store);
            if (!anchor && mode == 2) anchor = issuer_held_in(machine, issuer_store);
            constexpr std::uint32_t kInvalidInItself =
                chain_status::not_time_valid | chain_status::revoked | chain_status::not_signature_valid;
            const bool valid_in_itself = exclusive == nullptr || (exclusive->error_status & kInvalidInItself) == 0;
            const bool exclusive_trusted = exclusive != nullptr && exclusive->trusted();
            // Mode 2 takes an intermediate held in the store as a trust anchor
            // (CERT_CHAIN_EXCLUSIVE_ENABLE_CA_FLAG); judged here too, from the chain as built.
            const bool accepted = exclusive_trusted || (mode == 2 && anchor != nullptr && valid_in_itself);
            if (!accepted) {
                rejected = true;
                constexpr std::uint32_t kTrustAnchorErrors = chain_status::untrusted_root | chain_status::partial_chain |
                                                             chain_status::revocation_status_unknown |
                                                             chain_status::offline_revocation | 0x2u;
                const bool trust_only = exclusive == nullptr || (exclusive->error_status & ~kTrustAnchorErrors) == 0;
                // The exclusive engine also searches the issuer store: a chain it cannot build
                // either lacks an intermediate.
                const bool exclusive_partial =
                    exclusive == nullptr || (exclusive->error_status & chain_status::partial_chain) != 0;
                if (partial && root_elsewhere == nullptr && exclusive_partial) {
                    add_intermediate_missing();
                } else if (trust_only) {
                    const CertificateFacts* root = chain_end(machine);
                    const std::string wanted = mode == 1 ? "its root " + (root ? root->subject : leaf.issuer)
                                                         : "its issuer " + leaf.issuer + " or its root " +
                                                               (root ? root->subject : leaf.issuer);
                    add(TrustCause::issuer_missing_from_binding_store,
                        "ClientAuthTrustMode is " + mode_name(mode) + ", so Schannel trusts only the certificates in " +
                            issuers + " (" + site.issuer_store_why + "), and " + wanted +
                            " is not there; IIS answers 403.16 however complete LocalMachine\\Root is",
                        "Add " + std::string(mode == 1 ? "the root CA " + (root ? root->subject : leaf.issuer)
                                                       : "the issuing CA " + leaf.issuer) +
                            " to " + issuers + " (a trust_ca step with \"store\": \"" + site.issuer_store + "\")");
                } else {
                    reasons.push_back("the chain is not valid in itself (" + join(exclusive->status_names()) + ")");
                }
            }
        } else if (!machine->trusted()) {
            rejected = true;
            if ((machine->error_status & chain_status::untrusted_root) != 0 || root_elsewhere != nullptr) {
                const CertificateFacts* root = root_elsewhere ? root_elsewhere : chain_end(machine);
                const std::string root_name = root ? root->subject : leaf.issuer;
                add(TrustCause::ca_not_trusted,
                    "Schannel checks client certificates against the machine's trust (ClientAuthTrustMode " +
                        mode_name(mode) + ") and the root of certheal's certificate, " + root_name +
                        ", is not in LocalMachine\\Root" +
                        (root_held_in.empty() ? std::string()
                                              : " (only in LocalMachine\\" + root_held_in +
                                                    ", which machine trust does not use)") +
                        ", so IIS answers 403.16 (0x800B0109 CERT_E_UNTRUSTEDROOT or 0x800B010A CERT_E_CHAINING)",
                    "Add " + root_name + " to LocalMachine\\Root (certutil -addstore Root, or a trust_ca step with "
                    "\"store\": \"Root\")");
            } else {
                reasons.push_back("the chain is not valid in itself (" + join(machine->status_names()) + ")");
            }
        } else if (site.issuer_store_from_binding && !issuer_held_in(machine, issuer_store)) {
            rejected = true;
            add(TrustCause::issuer_missing_from_binding_store,
                binding_shown(*site.binding) + " takes its trusted issuers from " + issuers +
                    " (its Ctl Store Name), and neither the issuer " + leaf.issuer +
                    " nor a CA above it is there, so Schannel refuses certheal's certificate",
                "Add the issuing CA " + leaf.issuer + " to " + issuers + " (a trust_ca step with \"store\": \"" +
                    site.issuer_store + "\")");
        }
        const ChainFacts* checked = decisive ? decisive : machine;
        if (site.binding && site.binding->checks_revocation() && checked->revocation_unknown()) {
            rejected = true;
            std::vector<std::string> urls;
            for (const auto& certificate : checked->certificates) {
                for (const auto& url : certificate.crl_urls) urls.push_back(url);
                for (const auto& url : certificate.ocsp_urls) urls.push_back(url);
            }
            add(TrustCause::revocation_check_online,
                binding_shown(*site.binding) + " checks the revocation of client certificates" +
                    (site.binding->revocation_cache_only() ? " from the cache only" : " online") +
                    ", and this host could not tell whether certheal's certificate is revoked (" +
                    (urls.empty() ? std::string("its chain names no CRL or OCSP URL")
                                  : "from " + list_text(urls)) +
                    "): IIS answers 403.13 (0x80092012 or 0x80092013)",
                urls.empty() ? "Set the binding to skip the revocation check (netsh http update sslcert ... "
                               "verifyclientcertrevocation=disable), or issue client certificates that name a CRL"
                             : "Make those URLs reachable from this host, or set the binding to use cached revocation "
                               "data only (verifyrevocationwithcachedclientcertonly=enable) or to skip the check");
        }
    }
    if (schannel.tls13_enabled && site.binding && site.requires_client_certificate && !site.binding->disables_tls13() &&
        !site.binding->negotiates_client_certificate()) {
        add(TrustCause::tls13_without_negotiation,
            "TLS 1.3 is on (" + schannel.tls13_why + ") and " + binding_shown(*site.binding) +
                " does not negotiate the client certificate in the handshake, so IIS asks for it after the request, "
                "which TLS 1.3 clients such as browsers cannot answer",
            "Turn on Negotiate Client Certificate for the binding (netsh http update sslcert ... "
            "clientcertnegotiation=enable), or turn TLS 1.3 off for it (disabletls13=enable)");
    }

    std::stable_sort(diagnosis.findings.begin(), diagnosis.findings.end(), [](const CauseFinding& a, const CauseFinding& b) {
        auto rank = [](TrustCause cause) {
            return std::find(kPrecedence.begin(), kPrecedence.end(), cause) - kPrecedence.begin();
        };
        return rank(a.cause) < rank(b.cause);
    });
    if (rejected) {
        diagnosis.verdict = TrustVerdict::rejected;
        diagnosis.verdict_reason = as_sentence(
            "Schannel would refuse certheal's client certificate for site " + site.site +
            (diagnosis.findings.empty() ? "" : " (" + std::string(to_string(diagnosis.cause())) + ")") +
            (reasons.empty() ? std::string() : ": " + join(reasons, "; ")));
    } else if (chain_known) {
        diagnosis.verdict = TrustVerdict::accepted;
        diagnosis.verdict_reason = "Schannel would accept certheal's client certificate for site " + site.site + ".";
    } else {
        diagnosis.verdict = TrustVerdict::unknown;
        diagnosis.verdict_reason = as_sentence("certheal cannot tell whether Schannel would accept its certificate for site " +
                                               site.site + ": " + join(reasons, "; "));
    }
    if (rejected && diagnosis.findings.empty() && !reasons.empty()) {
        diagnosis.verdict_reason = as_sentence("Schannel would refuse certheal's client certificate for site " +
                                               site.site + ": " + join(reasons, "; ") +
                                               "; nothing in the host's trust settings causes it");
    }
    return diagnosis;
}

HostTrustFingerprint host_trust_fingerprint(const HostTrustFacts& facts) {
    HostTrustFingerprint fingerprint;
    nlohmann::json bindings = nlohmann::json::array();
    std::set<std::string> seen;
    std::vector<const SslBinding*> used;
    for (const auto& site : facts.sites) {
        for (const auto* binding : {site.binding ? &*site.binding : nullptr, site.shadowed_sni ? &*site.shadowed_sni : nullptr}) {
            if (binding && seen.insert(binding->kind_name() + " " + lower(binding->endpoint)).second) used.push_back(binding);
        }
    }
    std::sort(used.begin(), used.end(), [](const SslBinding* a, const SslBinding* b) {
        return std::make_pair(a->kind_name(), lower(a->endpoint)) < std::make_pair(b->kind_name(), lower(b->endpoint));
    });
    for (const auto* binding : used) {
        bindings.push_back({{"kind", binding->kind_name()},
                            {"endpoint", lower(binding->endpoint)},
                            {"flags", binding->flags},
                            {"cert_check_mode", binding->cert_check_mode},
                            {"ctl_store_name", binding->ctl_store_name},
                            {"ctl_identifier", binding->ctl_identifier}});
    }
    nlohmann::json stores = nlohmann::json::object();
    for (const auto& store : facts.stores) {
        std::vector<std::string> thumbprints;
        for (const auto& certificate : store.certificates) thumbprints.push_back(certificate.sha1);
        std::sort(thumbprints.begin(), thumbprints.end());
        nlohmann::json part = {{"certificates", thumbprints.size()}, {"sha256", hex_sha256(join(thumbprints, "\n"))}};
        if (store.error) part["unreadable"] = true;
        stores[store.name] = part;
    }
    fingerprint.parts = {{"trust_mode", facts.schannel.trust_mode},
                         {"send_trusted_issuer_list", facts.schannel.send_issuer_list},
                         {"bindings", bindings},
                         {"stores", stores}};
    fingerprint.value = hex_sha256(fingerprint.parts.dump());
    return fingerprint;
}

std::vector<std::string> changed_parts(const HostTrustFingerprint& before, const HostTrustFingerprint& after) {
    std::vector<std::string> changed;
    for (const char* key : {"trust_mode", "send_trusted_issuer_list", "bindings"}) {
        if (before.parts.value(key, nlohmann::json()) != after.parts.value(key, nlohmann::json())) changed.emplace_back(key);
    }
    const auto none = nlohmann::json::object();
    const auto& old_stores = before.parts.contains("stores") ? before.parts["stores"] : none;
    const auto& new_stores = after.parts.contains("stores") ? after.parts["stores"] : none;
    std::set<std::string> names;
    for (const auto& [name, value] : old_stores.items()) names.insert(name);
    for (const auto& [name, value] : new_stores.items()) names.insert(name);
    for (const auto& name : names) {
        if (old_stores.value(name, nlohmann::json()) != new_stores.value(name, nlohmann::json())) {
            changed.push_back("stores." + name);
        }
    }
    return changed;
}

const SiteDiagnosis* HostDiagnosis::site(const std::string& name) const {
    for (const auto& diagnosis : sites) {
        if (diagnosis.site == name) return &diagnosis;
    }
    return nullptr;
}

const SiteTrustFacts* HostDiagnosis::site_facts(const std::string& name) const {
    for (const auto& site : facts.sites) {
        if (site.site == name) return &site;
    }
    return nullptr;
}

bool HostDiagnosis::any_cause() const noexcept {
    return std::any_of(sites.begin(), sites.end(),
                       [](const SiteDiagnosis& site) { return site.cause() != TrustCause::none_found; });
}

HostDiagnosis diagnose_host(HostTrustFacts facts) {
    HostDiagnosis diagnosis;
    for (const auto& site : facts.sites) diagnosis.sites.push_back(diagnose_site(facts, site));
    diagnosis.fingerprint = host_trust_fingerprint(facts);
    diagnosis.facts = std::move(facts);
    return diagnosis;
}

// --- as JSON --------------------------------------------------------------------------------

nlohmann::json site_facts_json(const HostTrustFacts& host, const SiteTrustFacts& site) {
    const auto& schannel = host.schannel;
    nlohmann::json ignored = nlohmann::json::array();
    for (const auto& value : schannel.ignored_values) {
        ignored.push_back({{"name", value.name}, {"meant", value.meant}, {"why", value.why}});
    }
    nlohmann::json json = {
        {"trust_mode", schannel.trust_mode},
        {"trust_mode_source", schannel.trust_mode_set ? "registry" : "default"},
        {"send_trusted_issuer_list", schannel.send_issuer_list},
        {"send_trusted_issuer_list_source", schannel.send_issuer_list_set ? "registry" : "default"},
        {"ignored_schannel_values", ignored},
        {"tls13_enabled", schannel.tls13_enabled},
        {"tls13_why", schannel.tls13_why},
        {"os_build", schannel.os_build},
        {"addresses", site.addresses},
        {"binding", site.binding ? binding_json(*site.binding) : nlohmann::json(nullptr)},
        {"shadowed_binding", site.shadowed_sni ? binding_json(*site.shadowed_sni) : nlohmann::json(nullptr)},
        {"binding_store", site.issuer_store},
        {"binding_store_why", site.issuer_store_why},
        {"issuer_list",
         {{"store", site.issuer_store},
          {"names", site.issuer_list_names},
          {"bytes", site.issuer_list_bytes},
          {"sent", site.issuer_list_sent}}},
        {"client_certificate",
         site.client_certificate ? certificate_json(*site.client_certificate) : nlohmann::json(nullptr)},
        {"machine_chain", chain_json(site.machine_chain)},
        {"exclusive_chain", chain_json(site.exclusive_chain)},
    };
    if (site.client_certificate_problem) json["client_certificate_problem"] = *site.client_certificate_problem;
    if (schannel.error) json["schannel_error"] = *schannel.error;
    if (host.bindings_error) json["bindings_error"] = *host.bindings_error;
    json["binding_notes"] = host.binding_notes;
    nlohmann::json store_errors = nlohmann::json::object();
    for (const auto& store : host.stores) {
        if (store.error) store_errors[store.name] = *store.error;
    }
    if (!store_errors.empty()) json["store_errors"] = store_errors;
    return json;
}

nlohmann::json site_diagnosis_json(const HostDiagnosis& diagnosis, const SiteDiagnosis& site) {
    nlohmann::json causes = nlohmann::json::array();
    nlohmann::json findings = nlohmann::json::array();
    for (const auto& finding : site.findings) {
        causes.push_back(std::string(to_string(finding.cause)));
        findings.push_back(
            {{"cause", std::string(to_string(finding.cause))}, {"message", finding.sentence}, {"fix", finding.fix}});
    }
    const SiteTrustFacts* facts = diagnosis.site_facts(site.site);
    return {{"site", site.site},
            {"url", facts ? facts->url : std::string()},
            {"verdict", std::string(to_string(site.verdict))},
            {"verdict_reason", site.verdict_reason},
            {"cause", std::string(to_string(site.cause()))},
            {"causes", causes},
            {"findings", findings},
            {"facts", facts ? site_facts_json(diagnosis.facts, *facts) : nlohmann::json(nullptr)},
            {"fingerprint", diagnosis.fingerprint.value},
            {"fingerprint_parts", diagnosis.fingerprint.parts},
            {"diagnosed_at", format_time_utc(diagnosis.facts.gathered_at)}};
}

nlohmann::json host_trust_evidence(const HostDiagnosis& diagnosis, const std::string& site) {
    const SiteDiagnosis* found = diagnosis.site(site);
    const SiteTrustFacts* facts = diagnosis.site_facts(site);
    if (found == nullptr || facts == nullptr) return nlohmann::json::object();
    nlohmann::json causes = nlohmann::json::array();
    for (const auto& finding : found->findings) causes.push_back(std::string(to_string(finding.cause)));
    nlohmann::json binding = nullptr;
    if (facts->binding) {
        binding = {{"kind", facts->binding->kind_name()},
                   {"endpoint", facts->binding->endpoint},
                   {"source", facts->binding->source},
                   {"negotiate_client_certificate", facts->binding->negotiates_client_certificate()},
                   {"revocation", revocation_name(*facts->binding)}};
    }
    return {{"cause", std::string(to_string(found->cause()))},
            {"causes", causes},
            {"verdict", std::string(to_string(found->verdict))},
            {"trust_mode", diagnosis.facts.schannel.trust_mode},
            {"send_trusted_issuer_list", diagnosis.facts.schannel.send_issuer_list},
            {"binding", binding},
            {"binding_store", facts->issuer_store},
            {"issuer_list_bytes", facts->issuer_list_bytes},
            {"fingerprint", diagnosis.fingerprint.value},
            {"diagnosed_at", format_time_utc(diagnosis.facts.gathered_at)}};
}

}  // namespace certheal
