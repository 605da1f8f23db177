// The diagnosis as values others keep and compare: the host trust fingerprint (a farm node that
// drifted stands out) and the JSON of `certheal diagnose --json` and of the events' evidence.
#include "core/repair/diagnosis.hpp"

#include <algorithm>
#include <set>

#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "core/repair/diagnosis_support.hpp"

namespace certheal {
namespace {

using diagnosis_detail::hex_sha256;
using diagnosis_detail::lower;
using diagnosis_detail::revocation_name;

// The bindings the sites' connections get or that one of them shadows, once each, in a stable
// order.
std::vector<const SslBinding*> bindings_used(const HostTrustFacts& facts) {
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
    return used;
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

// --- the fingerprint ------------------------------------------------------------------------

HostTrustFingerprint host_trust_fingerprint(const HostTrustFacts& facts) {
    HostTrustFingerprint fingerprint;
    nlohmann::json bindings = nlohmann::json::array();
    for (const auto* binding : bindings_used(facts)) {
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
