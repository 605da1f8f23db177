// What the host's answers say, as the diagnosis needs them: a certificate's facts, the Schannel
// values as Windows reads them, the binding http.sys picks and a chain's status. Pure: the
// reading through the ports is in diagnosis_gather.cpp.
#include "core/repair/diagnosis.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/probe/certificate_info.hpp"
#include "core/repair/diagnosis_support.hpp"

namespace certheal {
namespace {

using diagnosis_detail::kBuildServer2012;
using diagnosis_detail::kBuildServer2022;
using diagnosis_detail::kSendIssuerListValue;
using diagnosis_detail::kTrustModeValue;
using diagnosis_detail::lower;
using diagnosis_detail::same_text;

// Bounds on what a damaged certificate or registry can make certheal walk.
constexpr std::size_t kMaxUrlsPerCertificate = 16;
constexpr std::size_t kLongestValueNameCompared = 64;

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

std::string plain_address(std::string address) {
    if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
        address = address.substr(1, address.size() - 2);
    }
    return lower(address);
}

bool is_ipv6(const std::string& address) { return address.find(':') != std::string::npos; }

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

}  // namespace

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

}  // namespace certheal
