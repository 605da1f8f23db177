#include "core/repair/diagnosis_sentences.hpp"

#include "core/base/text.hpp"
#include "core/repair/diagnosis_support.hpp"
#include "core/model/certificate_stores.hpp"

namespace certheal::diagnosis_detail {
namespace {

CauseFinding finding(TrustCause cause, std::string sentence, std::string fix) {
    return {cause, as_sentence(std::move(sentence)), as_sentence(std::move(fix))};
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

}  // namespace

CauseFinding issuer_list_too_large(const SiteTrustFacts& site) {
    const std::string issuers = local_machine_store(site.issuer_store);
    return finding(
        TrustCause::issuer_list_too_large,
        "The trusted issuer list Schannel builds from " + issuers + " (" + site.issuer_store_why + ") is " +
            std::to_string(site.issuer_list_bytes) + " bytes for " + std::to_string(site.issuer_list_names) +
            " names, over the 16384 bytes Schannel can send, so client certificate authentication fails " +
            (site.issuer_list_sent ? "(SendTrustedIssuerList is on)"
                                   : "on Windows Server 2012 whatever SendTrustedIssuerList says (KB 2880390)"),
        "Remove the CAs that clients do not need from " + issuers +
            ", give the binding a Ctl Store Name that holds only the client CAs, or set SendTrustedIssuerList to 0");
}

CauseFinding root_store_misplaced(const std::vector<const CertificateFacts*>& misplaced, std::uint32_t mode) {
    return finding(TrustCause::root_store_misplaced,
                   "LocalMachine\\Root holds " + std::to_string(misplaced.size()) +
                       " certificate(s) that are not self-signed: " + certificates_clause(misplaced) +
                       "; with ClientAuthTrustMode " + mode_name(mode) +
                       " Schannel then rejects client certificates (HTTP 403.16, KB 2802568)",
                   "Move them to LocalMachine\\CA (a fix_root_store step does it), or set ClientAuthTrustMode to 2");
}

CauseFinding binding_store_misplaced(const SiteTrustFacts& site, const std::vector<const CertificateFacts*>& misplaced,
                                     std::uint32_t mode) {
    const std::string issuers = local_machine_store(site.issuer_store);
    return finding(TrustCause::binding_store_misplaced,
                   issuers + ", the store Schannel takes the trusted issuers from (" + site.issuer_store_why +
                       "), holds " + std::to_string(misplaced.size()) + " certificate(s) that are not self-signed: " +
                       certificates_clause(misplaced) + "; with ClientAuthTrustMode " + mode_name(mode) +
                       " Schannel then rejects client certificates",
                   "Move them to LocalMachine\\CA, or set ClientAuthTrustMode to 2 (exclusive CA trust), which accepts "
                   "an intermediate CA in " + issuers);
}

CauseFinding schannel_value_misspelt(const SchannelFacts& schannel, const SchannelFacts::IgnoredValue& ignored) {
    const bool about_mode = ignored.meant == kTrustModeValue;
    return finding(TrustCause::schannel_value_misspelt,
                   "Windows ignores the Schannel value " + ignored.name + " because " + ignored.why + ", so " +
                       ignored.meant + " is " +
                       (about_mode ? std::to_string(schannel.trust_mode) + (schannel.trust_mode_set ? "" : " (the default)")
                                   : std::string(schannel.send_issuer_list ? "on" : "off") +
                                         (schannel.send_issuer_list_set ? "" : " (the default)")) +
                       " on this host",
                   "Under HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL, delete " + ignored.name +
                       " and set the REG_DWORD " + ignored.meant + " to the value you meant");
}

CauseFinding ip_binding_shadows_sni(const SslBinding& binding, const SslBinding& shadowed_sni) {
    return finding(TrustCause::ip_binding_shadows_sni,
                   "http.sys answers connections to " + binding.endpoint + " with " + binding_shown(binding) +
                       ", which takes precedence over " + binding_shown(shadowed_sni) +
                       " made for this site, so that binding's settings (Ctl Store Name " +
                       (shadowed_sni.ctl_store_name.empty() ? std::string("none") : shadowed_sni.ctl_store_name) +
                       ", Negotiate Client Certificate " + (shadowed_sni.negotiates_client_certificate() ? "on" : "off") +
                       ") are not used",
                   "Delete the IP binding (netsh http delete sslcert ipport=" + binding.endpoint +
                       ") if no other site needs it, or give it the same client-certificate settings");
}

CauseFinding ctl_identifier_leftover(const SslBinding& binding) {
    return finding(TrustCause::ctl_identifier_leftover,
                   binding_shown(binding) + " names the certificate trust list \"" + binding.ctl_identifier + "\"" +
                       (binding.ctl_store_name.empty() ? "" : " in " + local_machine_store(binding.ctl_store_name)) +
                       ", a leftover of IIS 6-style CTLs: http.sys then accepts only the issuers that list names",
                   "Recreate the binding without sslctlidentifier (netsh http delete sslcert, then netsh http add sslcert "
                   "with the same certhash and appid) and keep the trusted issuers in its Ctl Store Name instead");
}

CauseFinding intermediate_missing(const CertificateFacts& leaf, const CertificateFacts* last, const std::string& missing) {
    return finding(TrustCause::intermediate_missing,
                   "The chain of certheal's certificate " + leaf.subject + " stops at " +
                       (last ? last->subject : leaf.subject) + ": its issuer " + missing +
                       " is neither sent by certheal nor in a store where Windows looks for CAs, so Schannel cannot "
                       "build the chain (0x800B010A CERT_E_CHAINING)",
                   "Add the CA certificate " + missing +
                       " to LocalMachine\\CA if it is an intermediate (an add_intermediates step does it) or to "
                       "LocalMachine\\Root if it is the root, or give certheal's client_cert its chain (a PFX or PEM "
                       "that holds the intermediate)");
}

CauseFinding anchor_missing_from_issuer_store(const SiteTrustFacts& site, const CertificateFacts& leaf,
                                              const CertificateFacts* root, std::uint32_t mode) {
    const std::string issuers = local_machine_store(site.issuer_store);
    const std::string root_name = root ? root->subject : leaf.issuer;
    const std::string wanted =
        mode == 1 ? "its root " + root_name : "its issuer " + leaf.issuer + " or its root " + root_name;
    return finding(TrustCause::issuer_missing_from_binding_store,
                   "ClientAuthTrustMode is " + mode_name(mode) + ", so Schannel trusts only the certificates in " +
                       issuers + " (" + site.issuer_store_why + "), and " + wanted +
                       " is not there; IIS answers 403.16 however complete LocalMachine\\Root is",
                   "Add " + std::string(mode == 1 ? "the root CA " + root_name : "the issuing CA " + leaf.issuer) +
                       " to " + issuers + " (a trust_ca step with \"store\": \"" + site.issuer_store + "\")");
}

CauseFinding root_not_trusted(const std::string& root_name, const std::string& root_held_in, std::uint32_t mode) {
    return finding(TrustCause::ca_not_trusted,
                   "Schannel checks client certificates against the machine's trust (ClientAuthTrustMode " +
                       mode_name(mode) + ") and the root of certheal's certificate, " + root_name +
                       ", is not in LocalMachine\\Root" +
                       (root_held_in.empty() ? std::string()
                                             : " (only in " + local_machine_store(root_held_in) +
                                                   ", which machine trust does not use)") +
                       ", so IIS answers 403.16 (0x800B0109 CERT_E_UNTRUSTEDROOT or 0x800B010A CERT_E_CHAINING)",
                   "Add " + root_name + " to LocalMachine\\Root (certutil -addstore Root, or a trust_ca step with "
                   "\"store\": \"Root\")");
}

CauseFinding issuer_missing_from_binding_store(const SiteTrustFacts& site, const CertificateFacts& leaf) {
    const std::string issuers = local_machine_store(site.issuer_store);
    return finding(TrustCause::issuer_missing_from_binding_store,
                   binding_shown(*site.binding) + " takes its trusted issuers from " + issuers +
                       " (its Ctl Store Name), and neither the issuer " + leaf.issuer +
                       " nor a CA above it is there, so Schannel refuses certheal's certificate",
                   "Add the issuing CA " + leaf.issuer + " to " + issuers + " (a trust_ca step with \"store\": \"" +
                       site.issuer_store + "\")");
}

CauseFinding revocation_unknown(const SslBinding& binding, const std::vector<std::string>& urls) {
    return finding(TrustCause::revocation_check_online,
                   binding_shown(binding) + " checks the revocation of client certificates" +
                       (binding.revocation_cache_only() ? " from the cache only" : " online") +
                       ", and this host could not tell whether certheal's certificate is revoked (" +
                       (urls.empty() ? std::string("its chain names no CRL or OCSP URL") : "from " + list_text(urls)) +
                       "): IIS answers 403.13 (0x80092012 or 0x80092013)",
                   urls.empty() ? "Set the binding to skip the revocation check (netsh http update sslcert ... "
                                  "verifyclientcertrevocation=disable), or issue client certificates that name a CRL"
                                : "Make those URLs reachable from this host, or set the binding to use cached "
                                  "revocation data only (verifyrevocationwithcachedclientcertonly=enable) or to skip "
                                  "the check");
}

CauseFinding tls13_without_negotiation(const SchannelFacts& schannel, const SslBinding& binding) {
    return finding(TrustCause::tls13_without_negotiation,
                   "TLS 1.3 is on (" + schannel.tls13_why + ") and " + binding_shown(binding) +
                       " does not negotiate the client certificate in the handshake, so IIS asks for it after the "
                       "request, which TLS 1.3 clients such as browsers cannot answer",
                   "Turn on Negotiate Client Certificate for the binding (netsh http update sslcert ... "
                   "clientcertnegotiation=enable), or turn TLS 1.3 off for it (disabletls13=enable)");
}

std::string no_certificate_checked(const SiteTrustFacts& site) {
    return site.client_certificate_problem.value_or("certheal has no client certificate to check");
}

std::string chain_not_built(const ChainFacts* failed) {
    return "crypt32 could not build the chain of certheal's certificate: " +
           as_clause(failed && failed->error ? *failed->error : std::string("no chain was built"));
}

std::string chain_invalid_in_itself(const ChainFacts& chain) {
    return "the chain is not valid in itself (" + join(chain.status_names()) + ")";
}

std::string refused(const SiteDiagnosis& diagnosis, const std::vector<std::string>& reasons) {
    return as_sentence("Schannel would refuse certheal's client certificate for site " + diagnosis.site +
                       (diagnosis.findings.empty() ? "" : " (" + std::string(to_string(diagnosis.cause())) + ")") +
                       (reasons.empty() ? std::string() : ": " + join(reasons, "; ")));
}

std::string refused_for_no_host_setting(const std::string& site, const std::vector<std::string>& reasons) {
    return as_sentence("Schannel would refuse certheal's client certificate for site " + site + ": " +
                       join(reasons, "; ") + "; nothing in the host's trust settings causes it");
}

std::string accepted(const std::string& site) {
    return "Schannel would accept certheal's client certificate for site " + site + ".";
}

std::string undecided(const std::string& site, const std::vector<std::string>& reasons) {
    return as_sentence("certheal cannot tell whether Schannel would accept its certificate for site " + site + ": " +
                       join(reasons, "; "));
}

}  // namespace certheal::diagnosis_detail
