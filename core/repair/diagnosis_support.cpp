#include "core/repair/diagnosis_support.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <openssl/evp.h>

namespace certheal::diagnosis_detail {

std::string lower(std::string_view text) {
    std::string result(text);
    for (auto& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return result;
}

bool same_text(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

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

std::vector<const CertificateFacts*> not_self_signed(const StoreFacts* store) {
    std::vector<const CertificateFacts*> found;
    if (store == nullptr) return found;
    for (const auto& certificate : store->certificates) {
        if (!certificate.self_signed) found.push_back(&certificate);
    }
    return found;
}

namespace {

bool holds(const StoreFacts* store, const std::string& sha1) {
    if (store == nullptr) return false;
    return std::any_of(store->certificates.begin(), store->certificates.end(),
                       [&](const CertificateFacts& certificate) { return certificate.sha1 == sha1; });
}

}  // namespace

const CertificateFacts* issuer_held_in(const ChainFacts* chain, const StoreFacts* store) {
    if (chain == nullptr) return nullptr;
    for (std::size_t index = 1; index < chain->certificates.size(); ++index) {
        if (holds(store, chain->certificates[index].sha1)) return &chain->certificates[index];
    }
    return nullptr;
}

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

const CertificateFacts* chain_end(const ChainFacts* chain) {
    if (chain == nullptr || chain->certificates.empty()) return nullptr;
    return &chain->certificates.back();
}

}  // namespace certheal::diagnosis_detail
