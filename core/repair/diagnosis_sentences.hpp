#pragma once
// The sentences of the diagnosis: for each cause, what is wrong on this host with its names and
// numbers, and what to do about it; and the sentences of the verdict. The judging
// (diagnosis.cpp) decides which apply; the words are all here. Internal to core/repair.

#include <cstdint>
#include <string>
#include <vector>

#include "core/repair/diagnosis.hpp"

namespace certheal::diagnosis_detail {

// --- every client certificate on the host ---
CauseFinding issuer_list_too_large(const SiteTrustFacts& site);
CauseFinding root_store_misplaced(const std::vector<const CertificateFacts*>& misplaced, std::uint32_t mode);
CauseFinding binding_store_misplaced(const SiteTrustFacts& site, const std::vector<const CertificateFacts*>& misplaced,
                                     std::uint32_t mode);
CauseFinding schannel_value_misspelt(const SchannelFacts& schannel, const SchannelFacts::IgnoredValue& ignored);

// --- this site's binding ---
CauseFinding ip_binding_shadows_sni(const SslBinding& binding, const SslBinding& shadowed_sni);
CauseFinding ctl_identifier_leftover(const SslBinding& binding);

// --- this certificate's chain ---
// `last`: the certificate the chain stops at (nullptr: the leaf); `missing`: its issuer.
CauseFinding intermediate_missing(const CertificateFacts& leaf, const CertificateFacts* last, const std::string& missing);
// Trust modes 1 and 2: the issuer store holds neither the root (`root`, nullptr: unknown) nor,
// for mode 2, the issuer.
CauseFinding anchor_missing_from_issuer_store(const SiteTrustFacts& site, const CertificateFacts& leaf,
                                              const CertificateFacts* root, std::uint32_t mode);
// Machine trust: the root is not in Root (`root_held_in`: the store it is in instead, or empty).
CauseFinding root_not_trusted(const std::string& root_name, const std::string& root_held_in, std::uint32_t mode);
// Machine trust, and the binding's own store (the issuer store) holds no issuer of the leaf.
CauseFinding issuer_missing_from_binding_store(const SiteTrustFacts& site, const CertificateFacts& leaf);
CauseFinding revocation_unknown(const SslBinding& binding, const std::vector<std::string>& urls);

// --- TLS 1.3 ---
CauseFinding tls13_without_negotiation(const SchannelFacts& schannel, const SslBinding& binding);

// --- why the chain decides nothing, and the verdict ---
// Clauses, joined into the verdict's sentence.
std::string no_certificate_checked(const SiteTrustFacts& site);
std::string chain_not_built(const ChainFacts* failed);
std::string chain_invalid_in_itself(const ChainFacts& chain);
// The verdict's sentence, `diagnosis.findings` ranked.
std::string refused(const SiteDiagnosis& diagnosis, const std::vector<std::string>& reasons);
std::string refused_for_no_host_setting(const std::string& site, const std::vector<std::string>& reasons);
std::string accepted(const std::string& site);
std::string undecided(const std::string& site, const std::vector<std::string>& reasons);

}  // namespace certheal::diagnosis_detail
