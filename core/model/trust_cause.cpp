#include "core/model/trust_cause.hpp"

namespace certheal {

std::string_view to_string(TrustCause cause) noexcept {
    switch (cause) {
        case TrustCause::ca_not_trusted: return "ca_not_trusted";
        case TrustCause::issuer_missing_from_binding_store: return "issuer_missing_from_binding_store";
        case TrustCause::intermediate_missing: return "intermediate_missing";
        case TrustCause::root_store_misplaced: return "root_store_misplaced";
        case TrustCause::binding_store_misplaced: return "binding_store_misplaced";
        case TrustCause::issuer_list_too_large: return "issuer_list_too_large";
        case TrustCause::ctl_identifier_leftover: return "ctl_identifier_leftover";
        case TrustCause::ip_binding_shadows_sni: return "ip_binding_shadows_sni";
        case TrustCause::tls13_without_negotiation: return "tls13_without_negotiation";
        case TrustCause::revocation_check_online: return "revocation_check_online";
        case TrustCause::schannel_value_misspelt: return "schannel_value_misspelt";
        case TrustCause::none_found: return "none_found";
    }
    return "none_found";
}

std::optional<TrustCause> trust_cause_from_string(std::string_view name) noexcept {
    for (const auto cause : kAllTrustCauses) {
        if (to_string(cause) == name) return cause;
    }
    return std::nullopt;
}

}  // namespace certheal
