// Judging one site: from the host's facts, would Schannel accept certheal's client certificate,
// and which causes from the fixed list explain a refusal, most decisive first. Pure; the facts
// come from diagnosis_gather.cpp and the words of each finding from diagnosis_sentences.cpp.
#include "core/repair/diagnosis.hpp"

#include <algorithm>
#include <array>

#include "core/repair/diagnosis_sentences.hpp"
#include "core/repair/diagnosis_support.hpp"

namespace certheal {
namespace {

namespace sentence = diagnosis_detail;
using diagnosis_detail::chain_end;
using diagnosis_detail::issuer_held_in;
using diagnosis_detail::kBuildServer2012;
using diagnosis_detail::not_self_signed;
using diagnosis_detail::same_text;
using diagnosis_detail::self_signed_named;

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

// What the judging of one site has found so far.
struct Judgement {
    std::vector<CauseFinding> findings;
    std::vector<std::string> reasons;  // clauses: why the chain decides nothing, or what else refuses it
    bool rejected = false;
    bool chain_known = false;  // the certificate's chains were built: the verdict can be "accepted"

    void refuse(CauseFinding finding) {
        rejected = true;
        findings.push_back(std::move(finding));
    }
    // A cause that breaks some clients, or certheal on another day, but not this certificate now.
    void warn(CauseFinding finding) { findings.push_back(std::move(finding)); }
};

bool exclusive_mode(std::uint32_t mode) { return mode == 1 || mode == 2; }

// What breaks every client certificate on the host.
void judge_host_settings(const HostTrustFacts& host, const SiteTrustFacts& site, Judgement& judgement) {
    const auto& schannel = host.schannel;
    const std::uint32_t mode = schannel.trust_mode;
    const bool list_weighs = site.issuer_list_sent || schannel.os_build == kBuildServer2012;
    if (site.issuer_list_bytes > kMaxIssuerListBytes && list_weighs) {
        judgement.refuse(sentence::issuer_list_too_large(site));
    }
    if (mode != 2) {
        if (auto misplaced = not_self_signed(host.store("Root")); !misplaced.empty()) {
            judgement.refuse(sentence::root_store_misplaced(misplaced, mode));
        }
        if (!same_text(site.issuer_store, "Root")) {
            if (auto misplaced = not_self_signed(host.store(site.issuer_store)); !misplaced.empty()) {
                judgement.refuse(sentence::binding_store_misplaced(site, misplaced, mode));
            }
        }
    }
    for (const auto& ignored : schannel.ignored_values) judgement.warn(sentence::schannel_value_misspelt(schannel, ignored));
}

// What this site's binding does.
void judge_binding(const SiteTrustFacts& site, Judgement& judgement) {
    if (site.binding && site.shadowed_sni) {
        judgement.warn(sentence::ip_binding_shadows_sni(*site.binding, *site.shadowed_sni));
    }
    if (site.binding && !site.binding->ctl_identifier.empty()) {
        judgement.refuse(sentence::ctl_identifier_leftover(*site.binding));
    }
}

// The chains of certheal's certificate, both built, and where the machine's stops short.
struct ChainView {
    const CertificateFacts* leaf = nullptr;
    const ChainFacts* machine = nullptr;
    const ChainFacts* exclusive = nullptr;  // the issuer store as the only anchors (modes 1, 2); may be absent
    const StoreFacts* issuer_store = nullptr;
    std::uint32_t mode = 0;
    bool partial = false;                     // the machine's chain stops short
    const CertificateFacts* last = nullptr;  // where it stops
    std::string missing;                     // the issuer not found
    const CertificateFacts* root_elsewhere = nullptr;  // a root of that name in a store machine trust ignores
    std::string root_held_in;                          // that store
};

// A chain that stops short: crypt32 found no certificate for the last issuer in the stores it
// searches (Root, CA, My, Trust and what certheal sends). A self-signed certificate of that name
// in another store (ClientAuthIssuer) is a root the machine does not trust; anything else is a
// missing intermediate.
ChainView view_of(const HostTrustFacts& host, const SiteTrustFacts& site, const ChainFacts& machine) {
    ChainView view;
    view.leaf = &*site.client_certificate;
    view.machine = &machine;
    view.exclusive = site.exclusive_chain ? &*site.exclusive_chain : nullptr;
    view.issuer_store = host.store(site.issuer_store);
    view.mode = host.schannel.trust_mode;
    view.partial = (machine.error_status & chain_status::partial_chain) != 0;
    view.last = chain_end(&machine);
    view.missing = view.last ? view.last->issuer : view.leaf->issuer;
    view.root_elsewhere = view.partial ? self_signed_named(host, view.missing, view.root_held_in) : nullptr;
    return view;
}

bool intermediate_is_missing(const ChainView& view) { return view.partial && view.root_elsewhere == nullptr; }

CauseFinding intermediate_missing(const ChainView& view) {
    return sentence::intermediate_missing(*view.leaf, view.last, view.missing);
}

// Trust modes 1 and 2: the issuer store is the only trust anchors.
void judge_exclusive_chain(const SiteTrustFacts& site, const ChainView& view, Judgement& judgement) {
    const ChainFacts* exclusive = view.exclusive;
    const CertificateFacts* anchor = issuer_held_in(exclusive, view.issuer_store);
    if (!anchor && view.mode == 2) anchor = issuer_held_in(view.machine, view.issuer_store);
    constexpr std::uint32_t kInvalidInItself =
        chain_status::not_time_valid | chain_status::revoked | chain_status::not_signature_valid;
    const bool valid_in_itself = exclusive == nullptr || (exclusive->error_status & kInvalidInItself) == 0;
    const bool exclusive_trusted = exclusive != nullptr && exclusive->trusted();
    // Mode 2 takes an intermediate held in the store as a trust anchor
    // (CERT_CHAIN_EXCLUSIVE_ENABLE_CA_FLAG); judged here too, from the chain as built.
    const bool accepted = exclusive_trusted || (view.mode == 2 && anchor != nullptr && valid_in_itself);
    if (accepted) return;
    judgement.rejected = true;
    constexpr std::uint32_t kTrustAnchorErrors = chain_status::untrusted_root | chain_status::partial_chain |
                                                 chain_status::revocation_status_unknown |
                                                 chain_status::offline_revocation | 0x2u;
    const bool trust_only = exclusive == nullptr || (exclusive->error_status & ~kTrustAnchorErrors) == 0;
    // The exclusive engine also searches the issuer store: a chain it cannot build either lacks
    // an intermediate.
    const bool exclusive_partial = exclusive == nullptr || (exclusive->error_status & chain_status::partial_chain) != 0;
    if (intermediate_is_missing(view) && exclusive_partial) {
        judgement.refuse(intermediate_missing(view));
    } else if (trust_only) {
        judgement.refuse(sentence::anchor_missing_from_issuer_store(site, *view.leaf, chain_end(view.machine), view.mode));
    } else {
        judgement.reasons.push_back(sentence::chain_invalid_in_itself(*exclusive));
    }
}

// Machine trust (mode 0), and the machine's chain is not trusted.
void judge_untrusted_machine_chain(const ChainView& view, Judgement& judgement) {
    judgement.rejected = true;
    const ChainFacts& machine = *view.machine;
    if ((machine.error_status & chain_status::untrusted_root) == 0 && view.root_elsewhere == nullptr) {
        judgement.reasons.push_back(sentence::chain_invalid_in_itself(machine));
        return;
    }
    const CertificateFacts* root = view.root_elsewhere ? view.root_elsewhere : chain_end(&machine);
    const std::string root_name = root ? root->subject : view.leaf->issuer;
    judgement.refuse(sentence::root_not_trusted(root_name, view.root_held_in, view.mode));
}

// The binding checks revocation and this host could not find out.
void judge_revocation(const SiteTrustFacts& site, const ChainFacts& checked, Judgement& judgement) {
    if (!site.binding || !site.binding->checks_revocation() || !checked.revocation_unknown()) return;
    std::vector<std::string> urls;
    for (const auto& certificate : checked.certificates) {
        for (const auto& url : certificate.crl_urls) urls.push_back(url);
        for (const auto& url : certificate.ocsp_urls) urls.push_back(url);
    }
    judgement.refuse(sentence::revocation_unknown(*site.binding, urls));
}

// This certificate's chain, the way Schannel builds it for the trust mode.
void judge_chain(const HostTrustFacts& host, const SiteTrustFacts& site, Judgement& judgement) {
    const std::uint32_t mode = host.schannel.trust_mode;
    const ChainFacts* machine = site.machine_chain ? &*site.machine_chain : nullptr;
    const ChainFacts* exclusive = site.exclusive_chain ? &*site.exclusive_chain : nullptr;
    const ChainFacts* decisive = exclusive_mode(mode) ? exclusive : machine;
    if (!site.client_certificate) {
        judgement.reasons.push_back(sentence::no_certificate_checked(site));
        return;
    }
    if (machine == nullptr || machine->error || (decisive != nullptr && decisive->error)) {
        judgement.reasons.push_back(sentence::chain_not_built(machine && machine->error ? machine : decisive));
        return;
    }
    judgement.chain_known = true;
    const ChainView view = view_of(host, site, *machine);
    if (!exclusive_mode(mode) && intermediate_is_missing(view)) {
        judgement.refuse(intermediate_missing(view));
    } else if (exclusive_mode(mode)) {
        judge_exclusive_chain(site, view, judgement);
    } else if (!machine->trusted()) {
        judge_untrusted_machine_chain(view, judgement);
    } else if (site.issuer_store_from_binding && !issuer_held_in(machine, view.issuer_store)) {
        judgement.refuse(sentence::issuer_missing_from_binding_store(site, *view.leaf));
    }
    judge_revocation(site, decisive ? *decisive : *machine, judgement);
}

// What breaks only some clients: TLS 1.3 and a binding that asks for the certificate late.
void judge_tls13(const HostTrustFacts& host, const SiteTrustFacts& site, Judgement& judgement) {
    const auto& binding = site.binding;
    if (host.schannel.tls13_enabled && binding && site.requires_client_certificate && !binding->disables_tls13() &&
        !binding->negotiates_client_certificate()) {
        judgement.warn(sentence::tls13_without_negotiation(host.schannel, *binding));
    }
}

void rank(std::vector<CauseFinding>& findings) {
    std::stable_sort(findings.begin(), findings.end(), [](const CauseFinding& a, const CauseFinding& b) {
        auto rank_of = [](TrustCause cause) {
            return std::find(kPrecedence.begin(), kPrecedence.end(), cause) - kPrecedence.begin();
        };
        return rank_of(a.cause) < rank_of(b.cause);
    });
}

void give_verdict(const Judgement& judgement, SiteDiagnosis& diagnosis) {
    if (judgement.rejected) {
        diagnosis.verdict = TrustVerdict::rejected;
        diagnosis.verdict_reason = diagnosis.findings.empty() && !judgement.reasons.empty()
                                       ? sentence::refused_for_no_host_setting(diagnosis.site, judgement.reasons)
                                       : sentence::refused(diagnosis, judgement.reasons);
    } else if (judgement.chain_known) {
        diagnosis.verdict = TrustVerdict::accepted;
        diagnosis.verdict_reason = sentence::accepted(diagnosis.site);
    } else {
        diagnosis.verdict = TrustVerdict::unknown;
        diagnosis.verdict_reason = sentence::undecided(diagnosis.site, judgement.reasons);
    }
}

}  // namespace

std::string_view to_string(TrustVerdict verdict) noexcept {
    switch (verdict) {
        case TrustVerdict::accepted: return "accepted";
        case TrustVerdict::rejected: return "rejected";
        case TrustVerdict::unknown: return "unknown";
    }
    return "unknown";
}

SiteDiagnosis diagnose_site(const HostTrustFacts& host, const SiteTrustFacts& site) {
    Judgement judgement;
    judge_host_settings(host, site, judgement);
    judge_binding(site, judgement);
    judge_chain(host, site, judgement);
    judge_tls13(host, site, judgement);

    SiteDiagnosis diagnosis;
    diagnosis.site = site.site;
    diagnosis.findings = std::move(judgement.findings);
    rank(diagnosis.findings);
    give_verdict(judgement, diagnosis);
    return diagnosis;
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

}  // namespace certheal
