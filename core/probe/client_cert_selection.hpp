#pragma once
// Which certificate of a system store certheal presents: the pure part of a store client_cert
// (`{ "store": "My", "thumbprint": "..." }` or `{ "store": "My", "issuer": ..., "subject": ...,
// "eku": ... }`). The platform adapter reads the store and describes each certificate; this
// decides, so that the rules are the same everywhere and are tested without Windows.
//
// The rules: a thumbprint names one certificate. A selector matches every certificate whose
// issuer and subject are the distinguished names it gives (compared without case, spacing and
// quoting, in either order: "CN=Issuing CA, DC=contoso, DC=com" or "DC=com, DC=contoso,
// CN=Issuing CA") and that may be used for the EKU it gives (listed, anyExtendedKeyUsage, or no
// EKU extension at all, which Windows reads as "every purpose"). Of the matches with a private
// key that are valid now, the one with the latest NotBefore wins (then the latest NotAfter, then
// the thumbprint, so the choice never flips between two equal ones): a renewed certificate takes
// over from the round after it appears, and the old one is left alone.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/clock.hpp"
#include "core/base/result.hpp"
#include "core/model/config_model.hpp"

namespace certheal {

// One certificate of the store, as the adapter read it.
struct StoreCertificate {
    std::string thumbprint;  // SHA-1 of the DER, upper-case hex
    std::string subject;     // RFC 2253 ("CN=host,DC=contoso,DC=com")
    std::string issuer;
    TimePoint not_before{};
    TimePoint not_after{};
    // The EKU extension's purposes as dotted OIDs; unset when the certificate has no EKU
    // extension (good for every purpose).
    std::optional<std::vector<std::string>> extended_key_usages;
    bool has_private_key = false;  // the store knows where its key is (a provider, a container)
};

// The index in `certificates` of the certificate to present, or a Failure whose message says
// what was searched and why nothing fits (no match, only matches without a private key, only
// expired or not yet valid matches, with their subjects, thumbprints and dates). The message is
// a clause: the caller says for which site.
Result<std::size_t> choose_store_certificate(const StoreClientCert& wanted,
                                             std::span<const StoreCertificate> certificates, TimePoint now);

// "LocalMachine\My certificates issued by CN=Contoso Issuing CA, DC=contoso, DC=com for
// clientAuth" / "the LocalMachine\My certificate with SHA-1 thumbprint 0123...".
std::string describe_store_selector(const StoreClientCert& wanted);

// What makes two store selectors the same identity (the same store and criteria).
std::string store_selector_key(const StoreClientCert& wanted);

// A thumbprint as admins copy it (spaces, colons, lower case, the invisible left-to-right mark
// the Windows certificate dialog puts first) as 40 upper-case hex digits; nothing when it is not
// a SHA-1 thumbprint.
std::optional<std::string> normalised_thumbprint(std::string_view text);

// The dotted OID of an extended key usage given by its short name ("clientAuth"), its Windows
// name ("Client Authentication") or as a dotted OID; nothing when it is none of these.
std::optional<std::string> extended_key_usage_oid(std::string_view name);

// Whether two distinguished names in text name the same entity (see the rules above); false
// when either is not a distinguished name.
bool same_distinguished_name(std::string_view left, std::string_view right);

// Whether `text` reads as a distinguished name (type=value pairs), for config validation.
bool is_distinguished_name(std::string_view text);

}  // namespace certheal
