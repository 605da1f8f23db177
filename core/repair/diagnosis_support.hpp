#pragma once
// What the parts of the host trust diagnosis share (reading the host, judging a site, the
// sentences of its findings, the JSON): Windows' constants, the names certheal shows for stores,
// bindings and modes, and the searches over the gathered facts. Internal to core/repair's
// diagnosis files; the API is core/repair/diagnosis.hpp.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/repair/diagnosis.hpp"

namespace certheal::diagnosis_detail {

// The Windows builds whose defaults differ: Server 2012 turned the issuer list off by default
// (and, unpatched, failed with an oversized list whatever the setting, KB 2880390); Server 2022
// turned TLS 1.3 on.
inline constexpr std::uint32_t kBuildServer2012 = 9200;
inline constexpr std::uint32_t kBuildServer2022 = 20348;

inline constexpr std::string_view kTrustModeValue = "ClientAuthTrustMode";
inline constexpr std::string_view kSendIssuerListValue = "SendTrustedIssuerList";

std::string lower(std::string_view text);
bool same_text(std::string_view a, std::string_view b);  // case-insensitive
std::string hex_sha256(std::string_view bytes);          // lower-case hex

std::string binding_shown(const SslBinding& binding);  // "the SNI binding www.example.com:443"
std::string revocation_name(const SslBinding& binding);  // "off", "cached_only", "online"
std::string mode_name(std::uint32_t mode);              // "2 (exclusive CA trust)"

// The certificates of `store` that are not self-signed (none for no store).
std::vector<const CertificateFacts*> not_self_signed(const StoreFacts* store);
// An issuer of the leaf (any certificate above it in the chain) held in `store`.
const CertificateFacts* issuer_held_in(const ChainFacts* chain, const StoreFacts* store);
// A self-signed certificate named `subject` in one of the stores read that the machine's chain
// engine does not search (it searches Root and CA), and which store.
const CertificateFacts* self_signed_named(const HostTrustFacts& host, const std::string& subject, std::string& store);
// The certificate whose issuer could not be found: the last one of a partial chain.
const CertificateFacts* chain_end(const ChainFacts* chain);

}  // namespace certheal::diagnosis_detail
