#pragma once
// Why Schannel would refuse certheal's client certificate on this host: the fixed list of causes
// `certheal diagnose` names (core/repair/diagnosis decides which one applies). The names are part
// of the contract admins script against and that the repair ladder's `when.cause` matches: never
// rename one, only add.

#include <array>
#include <optional>
#include <string_view>

namespace certheal {

enum class TrustCause {
    ca_not_trusted,                     // machine trust: the chain's root is not in LocalMachine\Root
    issuer_missing_from_binding_store,  // exclusive trust or a Ctl Store: the issuer/root is not in that store
    intermediate_missing,               // the chain cannot be built on this host (0x800B010A)
    root_store_misplaced,               // a certificate that is not self-signed in LocalMachine\Root
    binding_store_misplaced,            // ... in the store Schannel takes the trusted issuers from
    issuer_list_too_large,              // the trusted issuer list is over 16 KB
    ctl_identifier_leftover,            // the binding names a certificate trust list (CTL)
    ip_binding_shadows_sni,             // an IP:port binding takes the site's connections from its SNI binding
    tls13_without_negotiation,          // TLS 1.3 on, "Negotiate Client Certificate" off
    revocation_check_online,            // the binding checks revocation and the host cannot tell
    schannel_value_misspelt,            // a Schannel value Windows does not read (name or type)
    none_found,                         // nothing on this host explains a rejection
};

inline constexpr std::array<TrustCause, 12> kAllTrustCauses{
    TrustCause::ca_not_trusted,          TrustCause::issuer_missing_from_binding_store,
    TrustCause::intermediate_missing,    TrustCause::root_store_misplaced,
    TrustCause::binding_store_misplaced, TrustCause::issuer_list_too_large,
    TrustCause::ctl_identifier_leftover, TrustCause::ip_binding_shadows_sni,
    TrustCause::tls13_without_negotiation, TrustCause::revocation_check_online,
    TrustCause::schannel_value_misspelt, TrustCause::none_found,
};

std::string_view to_string(TrustCause cause) noexcept;
std::optional<TrustCause> trust_cause_from_string(std::string_view name) noexcept;

}  // namespace certheal
