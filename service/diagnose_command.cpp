#include "service/diagnose_command.hpp"

#include <iostream>

#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "service/command_support.hpp"
#include "service/exit_code.hpp"
#include "service/platform.hpp"

namespace certheal::cli {
namespace {

std::string on_off(bool value) { return value ? "on" : "off"; }

std::string binding_text(const SslBinding& binding) {
    std::string text = binding.kind_name() + " " + binding.endpoint + " (from " +
                       (binding.source == "registry" ? std::string("the registry") : binding.source) + ")";
    text += "; Ctl Store Name " + (binding.ctl_store_name.empty() ? std::string("none") : binding.ctl_store_name);
    if (!binding.ctl_identifier.empty()) text += "; Ctl Identifier " + binding.ctl_identifier;
    text += "; Negotiate Client Certificate " + on_off(binding.negotiates_client_certificate());
    text += "; revocation check ";
    text += !binding.checks_revocation() ? "off" : (binding.revocation_cache_only() ? "cached only" : "online");
    if (binding.disables_tls13()) text += "; TLS 1.3 disabled";
    return text;
}

std::string chain_text(const ChainFacts& chain) {
    if (chain.error) return "not built: " + *chain.error;
    std::string text = join(chain.certificates, " <- ", [](const CertificateFacts& certificate) { return certificate.subject; });
    const auto status = chain.status_names();
    text += status.empty() ? "; trusted" : "; " + join(status);
    return text;
}

void print_site(const HostDiagnosis& diagnosis, const SiteDiagnosis& site) {
    const SiteTrustFacts* facts = diagnosis.site_facts(site.site);
    const auto& schannel = diagnosis.facts.schannel;
    std::cout << "site " << site.site << (facts ? " (" + facts->url + ")" : std::string()) << '\n';
    std::cout << "  verdict: " << to_string(site.verdict) << ": " << site.verdict_reason << '\n';
    if (site.findings.empty()) {
        std::cout << "  cause: none_found: nothing in this host's trust settings would make Schannel refuse "
                     "certheal's certificate.\n";
    }
    bool first = true;
    for (const auto& finding : site.findings) {
        std::cout << (first ? "  cause: " : "  also: ") << to_string(finding.cause) << ": " << finding.sentence << '\n'
                  << "    fix: " << finding.fix << '\n';
        first = false;
    }
    std::cout << "  Schannel: ClientAuthTrustMode " << schannel.trust_mode
              << (schannel.trust_mode_set ? "" : " (default)") << ", SendTrustedIssuerList "
              << on_off(schannel.send_issuer_list) << (schannel.send_issuer_list_set ? "" : " (default)")
              << ", TLS 1.3 " << on_off(schannel.tls13_enabled) << " (" << schannel.tls13_why << "), Windows build "
              << schannel.os_build << '\n';
    if (!facts) return;
    std::cout << "  binding: " << (facts->binding ? binding_text(*facts->binding) : std::string("none found for this site"))
              << '\n';
    if (facts->shadowed_sni) std::cout << "  shadowed binding: " << binding_text(*facts->shadowed_sni) << '\n';
    std::cout << "  trusted issuers: LocalMachine\\" << facts->issuer_store << " (" << facts->issuer_store_why << "), "
              << facts->issuer_list_names << " name(s), " << facts->issuer_list_bytes << " bytes, "
              << (facts->issuer_list_sent ? "sent" : "not sent") << '\n';
    if (facts->client_certificate) {
        std::cout << "  client certificate: " << facts->client_certificate->subject << " issued by "
                  << facts->client_certificate->issuer << " (SHA-1 " << facts->client_certificate->sha1 << ")\n";
    } else if (facts->client_certificate_problem) {
        std::cout << "  client certificate: " << *facts->client_certificate_problem << '\n';
    }
    if (facts->machine_chain) std::cout << "  chain (machine trust): " << chain_text(*facts->machine_chain) << '\n';
    if (facts->exclusive_chain) {
        std::cout << "  chain (only LocalMachine\\" << facts->issuer_store << " trusted): " << chain_text(*facts->exclusive_chain)
                  << '\n';
    }
}

}  // namespace

std::optional<HostDiagnosis> diagnose_now(const std::vector<SiteConfig>& sites, const Clock& clock) {
    const auto inspector = platform::make_host_trust_inspector();
    if (!inspector->available()) return std::nullopt;
    const auto stores = platform::make_certificate_stores();
    // A store client certificate is selected as the prober selects it.
    const auto identities = platform::make_client_identities();
    return diagnose_host(
        gather_host_trust(*inspector, *stores, sites, clock.wall_now(), identities.get()));
}

std::vector<PreflightFinding> host_trust_findings(const Config& config, const HostDiagnosis& diagnosis) {
    std::vector<PreflightFinding> findings;
    for (std::size_t index = 0; index < config.sites.size(); ++index) {
        const SiteDiagnosis* site = diagnosis.site(config.sites[index].name);
        if (site == nullptr || site->findings.empty()) continue;
        for (const auto& finding : site->findings) {
            findings.push_back({PreflightFinding::Level::warning, "/sites/" + std::to_string(index),
                                "host trust: " + std::string(to_string(finding.cause)) + ": " + finding.sentence +
                                    " Fix: " + finding.fix});
        }
    }
    return findings;
}

nlohmann::json host_trust_status_json(const HostDiagnosis& diagnosis) {
    nlohmann::json sites = nlohmann::json::array();
    for (const auto& site : diagnosis.sites) {
        nlohmann::json causes = nlohmann::json::array();
        for (const auto& finding : site.findings) causes.push_back(std::string(to_string(finding.cause)));
        sites.push_back({{"site", site.site},
                         {"verdict", std::string(to_string(site.verdict))},
                         {"cause", std::string(to_string(site.cause()))},
                         {"causes", causes}});
    }
    return {{"fingerprint", diagnosis.fingerprint.value},
            {"fingerprint_parts", diagnosis.fingerprint.parts},
            {"diagnosed_at", format_time_utc(diagnosis.facts.gathered_at)},
            {"sites", sites}};
}

std::string host_trust_line(const SiteDiagnosis& site) {
    if (site.findings.empty()) return "site " + site.site + ": none_found (" + std::string(to_string(site.verdict)) + ")";
    return "site " + site.site + ": " + std::string(to_string(site.cause())) + ": " + site.findings.front().sentence +
           " Fix: " + site.findings.front().fix;
}

int command_diagnose(const Options& options, const Clock& clock) {
    auto context = platform::config_context();
    auto loaded = load_config(config_path_of(options), context);
    for (const auto& issue : loaded.issues) std::cerr << format_issue(issue) << '\n';
    if (!loaded.config) return usage;
    std::vector<SiteConfig> sites;
    for (const auto& site : loaded.config->sites) {
        if (!options.site || site.name == *options.site) sites.push_back(site);
    }
    if (sites.empty()) {
        std::cerr << "certheal diagnose: no site named '" << options.site.value_or("") << "' in "
                  << config_path_of(options).string() << ".\n";
        return usage;
    }
    auto diagnosis = diagnose_now(sites, clock);
    if (!diagnosis) {
        const std::string message =
            "certheal diagnose reads Windows' Schannel settings, http.sys bindings and certificate stores; this host "
            "is not Windows, so there is no host trust to diagnose (the web server's own trust is in the files its "
            "configuration names).";
        if (options.json) {
            std::cout << nlohmann::json{{"available", false}, {"message", message}}.dump() << '\n';
        } else {
            std::cout << message << '\n';
        }
        return ok;
    }
    for (const auto& site : diagnosis->sites) {
        if (options.json) {
            std::cout << site_diagnosis_json(*diagnosis, site).dump() << '\n';
        } else {
            print_site(*diagnosis, site);
        }
    }
    std::vector<std::string> unread;
    if (diagnosis->facts.schannel.error) unread.push_back(*diagnosis->facts.schannel.error);
    if (diagnosis->facts.bindings_error) unread.push_back(*diagnosis->facts.bindings_error);
    if (!options.json) {
        for (const auto& note : diagnosis->facts.binding_notes) std::cout << "note: " << note << '\n';
        std::cout << "host trust fingerprint: " << diagnosis->fingerprint.value << '\n';
    }
    for (const auto& text : unread) {
        std::cerr << "certheal diagnose could not read part of the host, so the diagnosis may miss a cause: "
                  << as_sentence(text) << '\n';
    }
    if (diagnosis->any_cause()) return unhealthy;
    return unread.empty() ? ok : runtime_failure;
}

}  // namespace certheal::cli
